// Where the state of a slot is kept (wal_state_file.h says what it holds and why): a file on
// this host (WalStateFile), or a row of a table in the database itself (WalStateTable,
// `state_table`), which a pgep on another host reads too.
//
// Called by: the WAL source. Calls back: the `done` of open(), once, maybe before open returns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "supervisor/sources/event_ids.h"

namespace pgep {

// Which slot a position belongs to, from IDENTIFY_SYSTEM and the configuration.
struct SlotIdentity {
  std::string system_id;
  std::string database;
  std::string slot;
  bool operator==(const SlotIdentity&) const = default;
  std::string describe() const;  // "system 7312..., database app, slot pg_event_proxy"
};

class SlotStateStore {
 public:
  struct Read {
    // Error: what is kept cannot be trusted. Unusable: nothing can be kept there (no table, and
    // the role may not make one); `error` says what to do.
    enum class Outcome { Absent, Found, Error, Unusable } outcome = Outcome::Absent;
    uint64_t confirmed_lsn = 0;  // Found
    std::string error;           // Error, Unusable: what is wrong, naming the place
    std::string migrated_from;   // Found in a file of the first format (then rewritten)
  };
  using Opened = std::function<void(const Read&)>;

  virtual ~SlotStateStore() = default;
  // Starts what the store needs (a session); nothing for a file.
  virtual void start() {}
  // Fixes the place for this identity and reads what it remembers; then `done`.
  virtual void open(const SlotIdentity& identity, uint32_t timeline, Opened done) = 0;
  // Keeps `lsn` (never below what is kept) and the bridges' positions. Returns the position
  // PostgreSQL may be told now: `lsn`, or less while the store does not hold it yet; `lsn` when
  // the store cannot be written (error() says why), which does not hold the slot back.
  virtual uint64_t save(uint64_t lsn, const std::map<std::string, WalPosition>& bridges) = 0;
  // Each bridge's position as kept (read by open, then as last saved).
  virtual const std::map<std::string, WalPosition>& saved_bridges() const = 0;
  // Why the last save could not be kept; empty when it was.
  virtual const std::string& error() const = 0;
  // For messages: "/var/lib/pgep/…state", "the state table pgep_state".
  virtual std::string where() const = 0;
  // What an operator does to start afresh on purpose: "delete /var/lib/…", "delete its row: …".
  virtual std::string how_to_forget() const = 0;
  // Whether every position confirmed to the slot was kept here first: then a slot that starts
  // after what is kept was created again. Not so for a file on one host of a pair, whose
  // other pgep confirms positions this file never sees.
  virtual bool sees_every_confirmation() const = 0;
};

}  // namespace pgep
