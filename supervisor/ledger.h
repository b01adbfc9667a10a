// The ledger of one bridge: every event routed to it, from the moment a source read it until
// the bridge's worker acknowledged that its broker confirmed it. It numbers events (seq, per
// bridge, from 1) and is bounded in events and bytes: when full, the sources feeding the bridge
// stop reading, and resume once it is below half of both bounds.
//
// Called by: Bridge (append), WorkerProcess (acknowledge), and read by the sources' trackers
// and the link. Pure: no I/O, no callbacks, nothing that fails.
#pragma once

#include <cstdint>
#include <deque>
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
  // Drops every event up to and including `seq`; returns how many were dropped.
  size_t acknowledge(uint64_t seq);

  bool full() const { return entries_.size() >= max_events_ || bytes_ >= max_bytes_; }
  bool below_low_water() const { return entries_.size() <= max_events_ / 2 && bytes_ <= max_bytes_ / 2; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  uint64_t bytes() const { return bytes_; }
  uint64_t last_acknowledged() const { return last_acknowledged_; }
  const std::string& name() const { return name_; }

  // Events in seq order, oldest first.
  const std::deque<ipc::Publish>& entries() const { return entries_; }

 private:
  static uint64_t cost(const ipc::Publish& message);

  std::string name_;
  uint64_t max_events_;
  uint64_t max_bytes_;
  std::deque<ipc::Publish> entries_;
  uint64_t bytes_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t last_acknowledged_ = 0;
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
