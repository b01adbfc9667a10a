#include "supervisor/sources/wal_protocol.h"

#include <sys/time.h>

namespace pgep {

namespace {
// PostgreSQL's clock counts microseconds from 2000-01-01.
constexpr int64_t kPostgresEpochOffsetUs = 946684800LL * 1000000;
constexpr size_t kXLogDataHeader = 25;
constexpr size_t kKeepaliveSize = 18;
constexpr size_t kStatusUpdateSize = 34;
}  // namespace

uint64_t read_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void write_u64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

ReplicationMessage parse_replication_message(std::string_view bytes) {
  ReplicationMessage m;
  const char* p = bytes.data();
  if (bytes.size() >= kXLogDataHeader && p[0] == 'w') {
    m.kind = ReplicationMessage::Kind::XLogData;
    m.wal_start = read_u64(p + 1);
    m.wal_end = read_u64(p + 9);
    m.server_clock_us = static_cast<int64_t>(read_u64(p + 17));
    m.data = bytes.substr(kXLogDataHeader);
  } else if (bytes.size() >= kKeepaliveSize && p[0] == 'k') {
    m.kind = ReplicationMessage::Kind::Keepalive;
    m.wal_end = read_u64(p + 1);
    m.server_clock_us = static_cast<int64_t>(read_u64(p + 9));
    m.reply_requested = p[17] != 0;
  }
  return m;
}

std::string standby_status_update(uint64_t lsn, int64_t clock_us, bool reply_requested) {
  std::string message(kStatusUpdateSize, '\0');
  message[0] = 'r';
  write_u64(message.data() + 1, lsn);   // written
  write_u64(message.data() + 9, lsn);   // flushed: what PostgreSQL may forget
  write_u64(message.data() + 17, lsn);  // applied
  write_u64(message.data() + 25, static_cast<uint64_t>(clock_us));
  message[33] = reply_requested ? 1 : 0;
  return message;
}

int64_t postgres_now_us() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec - kPostgresEpochOffsetUs;
}

}  // namespace pgep
