// Routing keys of wal2json records.
#include <catch2/catch.hpp>

#include "supervisor/sources/wal_record.h"

TEST_CASE("wal2json format 2 records get their routing keys") {
  pgep::WalRecordParser parser;
  std::string error;
  auto insert = parser.parse(R"({"action":"I","schema":"public","table":"users","columns":[{"name":"id","value":1}]})", 2, error);
  REQUIRE(insert);
  CHECK(insert->routing_key == "public.users.insert");
  CHECK(!insert->begins);
  CHECK(!insert->commits);
  CHECK(parser.parse(R"({"action":"U","schema":"s","table":"t"})", 2, error)->routing_key == "s.t.update");
  CHECK(parser.parse(R"({"table":"t","action":"D","schema":"s"})", 2, error)->routing_key == "s.t.delete");
  CHECK(parser.parse(R"({"action":"T","schema":"s","table":"t"})", 2, error)->routing_key == "s.t.truncate");
  auto begin = parser.parse(R"({"action":"B","xid":1})", 2, error);
  CHECK(begin->routing_key == "begin");
  CHECK(begin->begins);
  auto commit = parser.parse(R"({"action":"C"})", 2, error);
  CHECK(commit->routing_key == "commit");
  CHECK(commit->commits);
  CHECK(parser.parse(R"({"action":"M","transactional":false,"prefix":"audit","content":"x"})", 2, error)->routing_key ==
        "message.audit");
  auto v1 = parser.parse(R"({"change":[]})", 1, error);
  CHECK(v1->routing_key == "transaction");
  CHECK(v1->begins);
  CHECK(v1->commits);
}

TEST_CASE("unreadable wal2json records are errors") {
  pgep::WalRecordParser parser;
  std::string error;
  CHECK(!parser.parse("not json", 2, error));
  CHECK(!parser.parse(R"({"action":"X","schema":"s","table":"t"})", 2, error));
  CHECK(error.find("unknown action") != std::string::npos);
  CHECK(!parser.parse(R"({"action":"I"})", 2, error));
  CHECK(!parser.parse(R"({"schema":"s"})", 2, error));
}
