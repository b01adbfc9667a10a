// The pgoutput decoder on hand-made messages: the bodies wal2json format 2 writes, and clear
// refusals of what does not fit (the parity with wal2json itself is test_pgoutput.py's).
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/sources/pgoutput_decoder.h"

namespace {

std::string be(uint64_t value, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}
std::string cstr(const std::string& text) { return text + '\0'; }

struct Column {
  bool key;
  std::string name;
  uint32_t type;
  int32_t typmod;
};

std::string relation(uint32_t oid, const std::vector<Column>& columns, char identity = 'd') {
  std::string m = "R" + be(oid, 4) + cstr("public") + cstr("t") + identity + be(columns.size(), 2);
  for (const Column& c : columns) m += std::string(1, c.key ? 1 : 0) + cstr(c.name) + be(c.type, 4) + be(static_cast<uint32_t>(c.typmod), 4);
  return m;
}

// Values: "\x01" for null, "\x02" for unchanged TOAST, else text.
std::string tuple(const std::vector<std::string>& values) {
  std::string m = be(values.size(), 2);
  for (const std::string& v : values) {
    if (v == "\x01") m += 'n';
    else if (v == "\x02") m += 'u';
    else m += "t" + be(v.size(), 4) + v;
  }
  return m;
}

const std::vector<Column> kColumns = {{true, "id", 23, -1}, {false, "name", 1043, 24}, {false, "f", 701, -1},
                                      {false, "ok", 16, -1}, {false, "data", 17, -1}, {false, "big", 25, -1}};

std::vector<std::string> decode(pgep::PgoutputDecoder& decoder, const std::string& message, uint64_t lsn = 0x100) {
  static std::vector<pgep::WalEvent> events;
  size_t count = 0;
  std::string error;
  INFO(error);
  REQUIRE(decoder.decode(message, lsn, events, count, error));
  std::vector<std::string> bodies;
  for (size_t i = 0; i < count; ++i) bodies.push_back(events[i].record.routing_key + " " + events[i].body);
  return bodies;
}

pgep::PgoutputDecoder typed_decoder(pgep::PgoutputBodyOptions options) {
  pgep::PgoutputDecoder decoder(options);
  for (auto [oid, name] : std::vector<std::pair<uint32_t, const char*>>{
           {23, "integer"}, {1043, "character varying"}, {701, "double precision"}, {16, "boolean"}, {17, "bytea"}, {25, "text"}}) {
    decoder.types().add_from_catalog(oid, {name, 0, 0, -1});
  }
  return decoder;
}

}  // namespace

TEST_CASE("pgoutput changes become wal2json format 2 bodies") {
  pgep::PgoutputBodyOptions options;
  options.include_types = true;
  options.include_xids = true;
  pgep::PgoutputDecoder decoder = typed_decoder(options);
  CHECK(decode(decoder, relation(16384, kColumns)).empty());
  CHECK(decode(decoder, "B" + be(0x2000, 8) + be(0, 8) + be(731, 4)) ==
        std::vector<std::string>{"begin {\"action\":\"B\",\"xid\":731}"});
  CHECK(decode(decoder, "I" + be(16384, 4) + "N" + tuple({"7", "a\"b\\c\nd", "NaN", "t", "\\xdead", "\x01"})) ==
        std::vector<std::string>{
            "public.t.insert {\"action\":\"I\",\"xid\":731,\"schema\":\"public\",\"table\":\"t\",\"columns\":["
            "{\"name\":\"id\",\"type\":\"integer\",\"value\":7},"
            "{\"name\":\"name\",\"type\":\"character varying(20)\",\"value\":\"a\\\"b\\\\c\\nd\"},"
            "{\"name\":\"f\",\"type\":\"double precision\",\"value\":null},"
            "{\"name\":\"ok\",\"type\":\"boolean\",\"value\":true},"
            "{\"name\":\"data\",\"type\":\"bytea\",\"value\":\"dead\"},"
            "{\"name\":\"big\",\"type\":\"text\",\"value\":null}]}"});
  // The key did not change: the identity comes from the new row; the TOASTed column is named.
  CHECK(decode(decoder, "U" + be(16384, 4) + "N" + tuple({"7", "x", "1.5", "f", "\x01", "\x02"})) ==
        std::vector<std::string>{
            "public.t.update {\"action\":\"U\",\"xid\":731,\"schema\":\"public\",\"table\":\"t\",\"columns\":["
            "{\"name\":\"id\",\"type\":\"integer\",\"value\":7},"
            "{\"name\":\"name\",\"type\":\"character varying(20)\",\"value\":\"x\"},"
            "{\"name\":\"f\",\"type\":\"double precision\",\"value\":1.5},"
            "{\"name\":\"ok\",\"type\":\"boolean\",\"value\":false},"
            "{\"name\":\"data\",\"type\":\"bytea\",\"value\":null}],"
            "\"identity\":[{\"name\":\"id\",\"type\":\"integer\",\"value\":7}],\"unchanged\":[\"big\"]}"});
  CHECK(decode(decoder, "D" + be(16384, 4) + "K" + tuple({"7", "\x01", "\x01", "\x01", "\x01", "\x01"})) ==
        std::vector<std::string>{
            "public.t.delete {\"action\":\"D\",\"xid\":731,\"schema\":\"public\",\"table\":\"t\","
            "\"identity\":[{\"name\":\"id\",\"type\":\"integer\",\"value\":7}]}"});
  CHECK(decode(decoder, "T" + be(1, 4) + std::string(1, '\0') + be(16384, 4)) ==
        std::vector<std::string>{"public.t.truncate {\"action\":\"T\",\"xid\":731,\"schema\":\"public\",\"table\":\"t\"}"});
  CHECK(decode(decoder, "C" + std::string(1, '\0') + be(0x2000, 8) + be(0x2100, 8) + be(0, 8)) ==
        std::vector<std::string>{"commit {\"action\":\"C\",\"xid\":731}"});
  CHECK(decode(decoder, "M" + std::string(1, '\0') + be(0x3000, 8) + cstr("audit") + be(4, 4) + "hi\nx") ==
        std::vector<std::string>{"message.audit {\"action\":\"M\",\"xid\":null,\"transactional\":false,"
                                 "\"prefix\":\"audit\",\"content\":\"hi\\nx\"}"});
}

TEST_CASE("filters, actions and transaction records follow wal2json_params") {
  pgep::PgoutputBodyOptions options;
  options.include_types = false;
  options.include_transaction = false;
  options.include_lsn = true;
  options.del = false;
  options.filter_tables.push_back({"public", "other"});
  pgep::PgoutputDecoder decoder(options);
  decode(decoder, relation(1, kColumns));
  std::string other = relation(2, kColumns);
  other.replace(other.find(cstr("t")), 2, cstr("other"));
  decode(decoder, other);
  CHECK(decode(decoder, "B" + be(0x2000, 8) + be(0, 8) + be(1, 4)).empty());
  CHECK(decode(decoder, "I" + be(2, 4) + "N" + tuple({"1", "a", "1", "t", "\x01", "\x01"})).empty());  // filtered
  CHECK(decode(decoder, "D" + be(1, 4) + "K" + tuple({"1", "\x01", "\x01", "\x01", "\x01", "\x01"})).empty());
  CHECK(decode(decoder, "I" + be(1, 4) + "N" + tuple({"1", "\x01", "\x01", "\x01", "\x01", "\x01"}), 0x16B3748) ==
        std::vector<std::string>{"public.t.insert {\"action\":\"I\",\"lsn\":\"0/16B3748\",\"schema\":\"public\","
                                 "\"table\":\"t\",\"columns\":[{\"name\":\"id\",\"value\":1},{\"name\":\"name\",\"value\":null},"
                                 "{\"name\":\"f\",\"value\":null},{\"name\":\"ok\",\"value\":null},"
                                 "{\"name\":\"data\",\"value\":null},{\"name\":\"big\",\"value\":null}]}"});
}

TEST_CASE("pgoutput messages that do not fit are refused with the reason") {
  pgep::PgoutputDecoder decoder(pgep::PgoutputBodyOptions{});
  std::vector<pgep::WalEvent> events;
  size_t count = 0;
  std::string error;
  CHECK_FALSE(decoder.decode("I" + be(99, 4) + "N" + tuple({"1"}), 1, events, count, error));
  CHECK(error == "a change of relation 99, which no Relation message described");
  CHECK_FALSE(decoder.decode("B" + be(1, 8), 1, events, count, error));
  CHECK(error == "a 'B' message cut short (9 bytes)");
  CHECK_FALSE(decoder.decode("S" + be(1, 4) + "\x01", 1, events, count, error));
  CHECK(error.find("did not ask for") != std::string::npos);
  decode(decoder, relation(1, kColumns));
  CHECK_FALSE(decoder.decode("I" + be(1, 4) + "N" + tuple({"1", "2"}), 1, events, count, error));
  CHECK(error == "a change of public.t with 2 column(s), where its Relation message had 6");
  CHECK_FALSE(decoder.decode("I" + be(1, 4) + "N" + be(1, 2) + "t" + be(1000, 4) + "short", 1, events, count, error));
  CHECK(error == "a 'I' message cut short (18 bytes)");
}

TEST_CASE("type names carry their typmods as format_type writes them") {
  pgep::PgTypeNames names;
  names.add_from_catalog(1043, {"character varying", 0, 0, -1});
  names.add_from_catalog(1015, {"character varying[]", 1043, 0, -1});
  names.add_from_catalog(1700, {"numeric", 0, 0, -1});
  names.add_from_catalog(1184, {"timestamp with time zone", 0, 0, -1});
  names.add_from_catalog(1186, {"interval", 0, 0, -1});
  names.add_from_catalog(1042, {"bpchar", 0, 0, -1});
  names.add_from_catalog(70000, {"posint", 0, 23, -1});
  names.add_from_catalog(23, {"integer", 0, 0, -1});
  CHECK(names.name(1043, 24, false) == "character varying(20)");
  CHECK(names.name(1015, 11, false) == "character varying(7)[]");
  CHECK(names.name(1015, -1, false) == "character varying[]");
  CHECK(names.name(1700, ((12 << 16) | 3) + 4, false) == "numeric(12,3)");
  CHECK(names.name(1184, 3, false) == "timestamp(3) with time zone");
  CHECK(names.name(1186, (0x1C08 << 16) | 1, false) == "interval day to second(1)");
  CHECK(names.name(1186, (0x7FFF << 16) | 0xFFFF, false) == "interval");
  CHECK(names.name(1042, 9, false) == "character(5)");
  CHECK(names.name(1042, -1, false) == "bpchar");
  CHECK(names.name(70000, -1, false) == "posint");
  CHECK(names.name(70000, -1, true) == "integer");
  CHECK(names.name(4242, -1, false) == "oid 4242");
  names.add_from_stream(80000, "app", "Mood");
  CHECK(names.name(80000, -1, false) == "app.\"Mood\"");
}
