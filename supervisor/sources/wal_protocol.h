// The byte layouts of the streaming replication messages pgep reads and writes inside COPY
// BOTH, as PostgreSQL's "Streaming Replication Protocol" documents them (big-endian integers):
//   XLogData           'w' start:8 wal_end:8 clock:8 data...
//   Primary keepalive  'k' wal_end:8 clock:8 reply_requested:1
//   Standby status     'r' written:8 flushed:8 applied:8 clock:8 reply_requested:1
// This file is the only code that knows them; the WAL source speaks in the structs below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgep {

struct ReplicationMessage {
  enum class Kind { XLogData, Keepalive, Unknown };
  Kind kind = Kind::Unknown;
  uint64_t wal_start = 0;        // XLogData: where this message's WAL starts
  uint64_t wal_end = 0;          // the server's WAL end
  int64_t server_clock_us = 0;   // microseconds since 2000-01-01
  bool reply_requested = false;  // keepalive: the server wants a status update now
  std::string_view data;         // XLogData: the output plugin's message
};

// Reads one CopyData message; one too short for its type is Unknown.
ReplicationMessage parse_replication_message(std::string_view bytes);

// A standby status update that reports `lsn` as written, flushed and applied; with
// `reply_requested` the server answers at once with a keepalive.
std::string standby_status_update(uint64_t lsn, int64_t clock_us, bool reply_requested = false);

// Now on PostgreSQL's clock: microseconds since 2000-01-01 UTC.
int64_t postgres_now_us();

uint64_t read_u64(const char* p);
void write_u64(char* p, uint64_t v);

}  // namespace pgep
