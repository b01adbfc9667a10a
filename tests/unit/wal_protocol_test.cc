// The replication messages' byte layouts, against the offsets PostgreSQL documents.
#include <catch2/catch.hpp>

#include <string>

#include "supervisor/sources/wal_protocol.h"

using pgep::ReplicationMessage;

namespace {
std::string u64(uint64_t v) {
  std::string out(8, '\0');
  pgep::write_u64(out.data(), v);
  return out;
}
}  // namespace

TEST_CASE("integers are big-endian, 8 bytes") {
  std::string bytes = u64(0x0102030405060708ULL);
  CHECK(bytes == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(pgep::read_u64(bytes.data()) == 0x0102030405060708ULL);
  CHECK(pgep::read_u64(u64(~0ULL).data()) == ~0ULL);
}

TEST_CASE("XLogData: 'w', start, WAL end, clock, then the plugin's data") {
  std::string bytes = "w" + u64(0x16B3748) + u64(0x16B3800) + u64(12345) + "{\"action\":\"I\"}";
  ReplicationMessage m = pgep::parse_replication_message(bytes);
  CHECK(m.kind == ReplicationMessage::Kind::XLogData);
  CHECK(m.wal_start == 0x16B3748);
  CHECK(m.wal_end == 0x16B3800);
  CHECK(m.server_clock_us == 12345);
  CHECK(m.data == "{\"action\":\"I\"}");
  CHECK(pgep::parse_replication_message("w" + u64(1) + u64(2) + u64(3)).data.empty());  // no data at all
}

TEST_CASE("primary keepalive: 'k', WAL end, clock, reply requested") {
  ReplicationMessage m = pgep::parse_replication_message("k" + u64(0xABCDEF) + u64(99) + std::string(1, '\1'));
  CHECK(m.kind == ReplicationMessage::Kind::Keepalive);
  CHECK(m.wal_end == 0xABCDEF);
  CHECK(m.server_clock_us == 99);
  CHECK(m.reply_requested);
  CHECK_FALSE(pgep::parse_replication_message("k" + u64(1) + u64(2) + std::string(1, '\0')).reply_requested);
}

TEST_CASE("a message too short for its type, or of another type, is unknown") {
  CHECK(pgep::parse_replication_message("").kind == ReplicationMessage::Kind::Unknown);
  CHECK(pgep::parse_replication_message("w" + u64(1)).kind == ReplicationMessage::Kind::Unknown);
  CHECK(pgep::parse_replication_message("k" + u64(1) + u64(2)).kind == ReplicationMessage::Kind::Unknown);
  CHECK(pgep::parse_replication_message("x" + u64(1) + u64(2) + u64(3)).kind == ReplicationMessage::Kind::Unknown);
}

TEST_CASE("standby status update: 'r', written = flushed = applied, clock, no reply asked") {
  std::string update = pgep::standby_status_update(0x1234, 777);
  REQUIRE(update.size() == 34);
  CHECK(update[0] == 'r');
  CHECK(pgep::read_u64(update.data() + 1) == 0x1234);
  CHECK(pgep::read_u64(update.data() + 9) == 0x1234);
  CHECK(pgep::read_u64(update.data() + 17) == 0x1234);
  CHECK(pgep::read_u64(update.data() + 25) == 777);
  CHECK(update[33] == 0);
}

TEST_CASE("PostgreSQL's clock counts from 2000-01-01") {
  int64_t now = pgep::postgres_now_us();
  // 2026 is more than 26 and less than 100 years after 2000.
  CHECK(now > 26LL * 365 * 24 * 3600 * 1000000);
  CHECK(now < 100LL * 365 * 24 * 3600 * 1000000);
}
