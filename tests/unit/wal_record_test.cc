// Routing keys of wal2json records.
#include <catch2/catch.hpp>

#include "supervisor/sources/wal_record.h"

TEST_CASE("wal2json format 2 records get their routing keys") {
  pgep::WalRecordParser parser;
  std::string error;
  auto insert = parser.parse(R"({"action":"I","schema":"public","table":"users","columns":[{"name":"id","value":1}]})", 2, error);
  CHECK(insert.routing_key == "public.users.insert");
  CHECK(!insert.begins);
  CHECK(!insert.commits);
  CHECK(parser.parse(R"({"action":"U","schema":"s","table":"t"})", 2, error).routing_key == "s.t.update");
  CHECK(parser.parse(R"({"table":"t","action":"D","schema":"s"})", 2, error).routing_key == "s.t.delete");
  CHECK(parser.parse(R"({"action":"T","schema":"s","table":"t"})", 2, error).routing_key == "s.t.truncate");
  auto begin = parser.parse(R"({"action":"B","xid":1})", 2, error);
  CHECK(begin.routing_key == "begin");
  CHECK(begin.begins);
  auto commit = parser.parse(R"({"action":"C"})", 2, error);
  CHECK(commit.routing_key == "commit");
  CHECK(commit.commits);
  CHECK(parser.parse(R"({"action":"M","transactional":false,"prefix":"audit","content":"x"})", 2, error).routing_key ==
        "message.audit");
  auto v1 = parser.parse(R"({"change":[]})", 1, error);
  CHECK(v1.routing_key == "transaction");
  CHECK(v1.begins);
  CHECK(v1.commits);
}

TEST_CASE("a wal2json record pgep cannot read is forwarded under the key unknown, never dropped") {
  pgep::WalRecordParser parser;
  std::string problem;
  CHECK(parser.parse("not json", 2, problem).routing_key == "unknown");
  CHECK(problem.find("not a wal2json format 2 object") != std::string::npos);
  CHECK(parser.parse(R"({"action":"X","schema":"s","table":"t"})", 2, problem).routing_key == "unknown");
  CHECK(problem.find("unknown action \"X\"") != std::string::npos);
  CHECK(parser.parse(R"({"action":"I"})", 2, problem).routing_key == "unknown");
  CHECK(problem.find("without a table") != std::string::npos);
  CHECK(parser.parse(R"({"schema":"s"})", 2, problem).routing_key == "unknown");
  CHECK(parser.parse(R"({"action":"I","schema":"s","table":"t"})", 2, problem).routing_key == "s.t.insert");
  CHECK(problem.empty());
}

TEST_CASE("a change without a schema (include-schemas '0') is keyed by its table") {
  pgep::WalRecordParser parser;
  std::string problem;
  CHECK(parser.parse(R"({"action":"I","table":"users","columns":[]})", 2, problem).routing_key == "users.insert");
  CHECK(problem.empty());
}

TEST_CASE("a large record is routed by its head, and by the whole when the head will not do") {
  pgep::WalRecordParser parser;
  std::string error;
  std::string big(200 * 1024, 'x');
  std::string insert = R"({"action":"I","schema":"public","table":"blobs","columns":[{"name":"b","value":")" + big + R"("}]})";
  CHECK(parser.parse(insert, 2, error).routing_key == "public.blobs.insert");
  CHECK(error.empty());
  std::string message = R"({"action":"M","transactional":true,"prefix":"audit","content":")" + big + R"("})";
  CHECK(parser.parse(message, 2, error).routing_key == "message.audit");
  // The table's name after the columns: the head has no table, the whole message has.
  std::string late = R"({"action":"D","columns":[],"identity":[{"name":"b","value":")" + big + R"("}],"table":"t"})";
  CHECK(parser.parse(late, 2, error).routing_key == "t.delete");
  // A quote in a string is escaped, so a marker inside a value is no marker.
  std::string tricky = R"({"action":"I","schema":"s","table":"a\",\"columns\":","columns":[{"value":")" + big + R"("}]})";
  CHECK(parser.parse(tricky, 2, error).routing_key == "s.a\",\"columns\":.insert");
  CHECK(parser.parse(std::string(100 * 1024, '{'), 2, error).routing_key == "unknown");
  CHECK(!error.empty());
}
