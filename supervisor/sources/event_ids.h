// Message ids of WAL events and outbox rows (DESIGN, "Lessons from the field"): the same on
// every replay, and unique across databases and clusters.
//
//   WAL, a transaction:   SYSID:DB:FIRSTLSN:B   SYSID:DB:FIRSTLSN:0 ...:1 ...   SYSID:DB:FIRSTLSN:C
//                         (FIRSTLSN is the transaction's begin LSN; the index counts its changes)
//   WAL, a lone record:   SYSID:DB:LSN:N        (no begin/commit records, a non-transactional
//                         message; N counts the records sharing that LSN)
//   WAL, format 1:        SYSID:DB:LSN:T        (one message per transaction)
//   outbox:               SYSID:DB:outbox:ID
//
// SYSID is the cluster's system identifier, DB the database name (bytes outside
// [A-Za-z0-9_.-] written %XX). A replay from the slot starts at a transaction boundary (or at a
// lone record), so it gives every event the id its first delivery had.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace pgep {

// Where one WAL event stands in the stream: its unit (a transaction, by its begin LSN, or a
// record outside any transaction, by its own LSN) and its place in the unit (begin 0, changes
// from 1, commit kEnd; a lone record its index among those sharing its LSN).
struct WalPosition {
  static constexpr uint64_t kEnd = std::numeric_limits<uint64_t>::max();
  uint64_t unit = 0;
  uint64_t ordinal = 0;
  uint64_t end = 0;  // where the unit ends (a commit's LSN, a lone record's), on its last event
  bool operator==(const WalPosition&) const = default;
};

// A name as one word of an id or a file name: bytes outside [A-Za-z0-9_.-] become %XX.
std::string encode_name_word(const std::string& name);

// "SYSID:DB:", the start of every id of one database.
std::string event_id_prefix(const std::string& system_id, const std::string& database);

std::string outbox_event_id(const std::string& prefix, int64_t row_id);

// The ids of the WAL records of one stream, in the order they arrive.
class WalEventIds {
 public:
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }
  // A new connection: the stream starts again at a transaction boundary.
  void restart();
  std::string begin(uint64_t lsn);
  std::string change(uint64_t lsn);  // inside a transaction
  std::string commit(uint64_t lsn);  // `lsn`: the commit's (the transaction's end)
  std::string lone(uint64_t lsn);    // outside any transaction
  std::string whole_transaction(uint64_t lsn);  // format 1
  // Where the event last named stands in the stream.
  const WalPosition& position() const { return position_; }

 private:
  std::string prefix_;
  std::string transaction_;  // "FIRSTLSN:" of the open transaction
  uint64_t unit_ = 0;        // its FIRSTLSN
  uint64_t index_ = 0;
  WalPosition position_;
  uint64_t lone_lsn_ = 0;
  uint64_t lone_index_ = 0;
};

}  // namespace pgep
