// What each WAL bridge acknowledged, so that a restarted pgep does not send a bridge again what
// it had (issue 9, "few duplicates"). After a supervisor is killed, PostgreSQL replays from the
// slot, which waits for the slowest bridge; without this every bridge would get everything
// since then again. Each bridge's last acknowledged position is saved in the state file with
// the slot position (every status tick, 200 ms), and after a restart each bridge skips the
// replayed events up to it: it gets again only what it had in flight and what it acknowledged
// after the last save.
//
// Why skipping is safe: a bridge's acknowledgements are cumulative in stream order, and a replay
// is the stream again from a transaction boundary in the same (commit) order. A saved position
// inside a transaction (part of it acknowledged) is always replayed, since the slot cannot have
// been confirmed past a transaction some bridge had not acknowledged; a saved position at a
// transaction's end is replayed unless the slot is past that end, and then nothing is skipped.
//
// Called by: WalSource. Pure: no I/O. The ledgers it was given must outlive the events that
// refer to them (refers_to).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "supervisor/ledger.h"
#include "supervisor/sources/event_ids.h"

namespace pgep {

class BridgeProgress {
 public:
  // An event went to a bridge.
  void routed(const Delivery& delivery, const WalPosition& position);
  // Moves each bridge's acknowledged position up to what its ledger acknowledged; true when
  // one moved.
  bool advance();
  // By bridge name, the last event each acknowledged (since this process started).
  const std::map<std::string, WalPosition>& acknowledged() const { return acknowledged_; }

  // After a restart, what the state file held, and where the slot resumes: each bridge skips
  // the replayed events up to its position, unless the slot does not replay that unit.
  void resume(const std::map<std::string, WalPosition>& saved, uint64_t slot_confirmed);
  // Whether `bridge` acknowledged the event at `position` before the restart.
  bool skip(const std::string& bridge, const WalPosition& position);
  uint64_t skipped() const { return skipped_; }
  bool skipping() const { return !skip_until_.empty(); }

  bool refers_to(const Ledger& ledger) const;
  // A reload removed the bridge of `ledger`: nothing of it is kept or saved any more.
  void forget(const Ledger& ledger);

 private:
  std::map<const Ledger*, std::deque<std::pair<uint64_t, WalPosition>>> routed_;
  std::map<std::string, WalPosition> acknowledged_;
  std::map<std::string, WalPosition> skip_until_;
  uint64_t skipped_ = 0;
};

}  // namespace pgep
