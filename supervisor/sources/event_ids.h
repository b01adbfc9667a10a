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
#include <string>

namespace pgep {

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
  std::string commit();
  std::string lone(uint64_t lsn);    // outside any transaction
  std::string whole_transaction(uint64_t lsn);  // format 1

 private:
  std::string prefix_;
  std::string transaction_;  // "FIRSTLSN:" of the open transaction
  uint64_t index_ = 0;
  uint64_t lone_lsn_ = 0;
  uint64_t lone_index_ = 0;
};

}  // namespace pgep
