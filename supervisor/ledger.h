// The ledger of one bridge: every event routed to it, from the moment a source read it until
// the bridge's worker acknowledged that its broker confirmed it. It numbers events (seq, per
// bridge, from 1) and is bounded in events and bytes: when full, the sources feeding the bridge
// stop reading, and resume once it is below half of both bounds.
//
// An event that can never be delivered (a dead letter) leaves the entries but stays *held*
// until it is written to events.dead_letters: the acknowledged mark (what the sources may
// forget) never passes a held seq, so nothing is let go before it is safe somewhere.
//
// Called by: Bridge (append), WorkerProcess (acknowledge), and read by the sources' trackers
// and the link. Pure: no I/O, no callbacks, nothing that fails.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "ipc/frame.h"

namespace pgep {

class Ledger {
 public:
  // `name` is its bridge's, for what is kept of it across restarts (the state file).
  Ledger(uint64_t max_events, uint64_t max_bytes, std::string name = "")
      : name_(std::move(name)), max_events_(max_events), max_bytes_(max_bytes) {}

  // Takes the event, gives it the next seq and returns it.
  uint64_t append(ipc::Publish&& message);
  // Gives the next seq to an event that is not sent (a dead letter from the start); it is held.
  uint64_t append_held();
  // Drops every event up to and including `seq`; returns how many were dropped.
  size_t acknowledge(uint64_t seq);
  // Moves the entry `seq` out into `message` (its worker gave up on it) and holds its seq;
  // false when no such entry is waiting.
  bool take(uint64_t seq, ipc::Publish& message);
  // A held seq is safe (its dead letter was written): the acknowledged mark may pass it.
  void release(uint64_t seq);

  bool full() const { return entries_.size() >= max_events_ || bytes_ >= max_bytes_; }
  bool below_low_water() const { return entries_.size() <= max_events_ / 2 && bytes_ <= max_bytes_ / 2; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  uint64_t bytes() const { return bytes_; }
  // Every seq up to this one is acknowledged or released; none is held or in the entries.
  uint64_t last_acknowledged() const;
  bool holds(uint64_t seq) const { return held_.count(seq) > 0; }
  const std::string& name() const { return name_; }

  // Events in seq order, oldest first.
  const std::deque<ipc::Publish>& entries() const { return entries_; }

 private:
  static uint64_t cost(const ipc::Publish& message);

  std::string name_;
  uint64_t max_events_;
  uint64_t max_bytes_;
  std::deque<ipc::Publish> entries_;  // in seq order, with gaps where seqs are held or released
  std::set<uint64_t> held_;
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 1;
};

// Where one event went: its bridge's ledger and its seq there. A source keeps these for what
// it may only forget (a WAL position, an outbox row) once every bridge acknowledged it.
struct Delivery {
  const Ledger* ledger;
  uint64_t seq;
  bool acknowledged() const { return ledger->last_acknowledged() >= seq; }
};
using Deliveries = std::vector<Delivery>;

// The one rule for "every bridge has it": FlushTracker and OutboxTracker both ask it.
bool all_acknowledged(const Deliveries& deliveries);
// Whether some delivery went to `ledger`; and dropping those (its bridge was removed).
bool goes_to(const Deliveries& deliveries, const Ledger& ledger);
void drop_ledger(Deliveries& deliveries, const Ledger& ledger);

}  // namespace pgep
