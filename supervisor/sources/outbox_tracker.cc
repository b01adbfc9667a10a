#include "supervisor/sources/outbox_tracker.h"

#include <algorithm>
#include <utility>

namespace pgep {

void OutboxTracker::routed(int64_t id, Deliveries deliveries) {
  if (deliveries.empty()) {
    to_delete_.push_back(id);  // no bridge reads its channel
  } else {
    in_flight_.push_back({id, std::move(deliveries)});
  }
}

void OutboxTracker::advance() {
  while (!in_flight_.empty() && all_acknowledged(in_flight_.front().deliveries)) {
    to_delete_.push_back(in_flight_.front().id);
    in_flight_.pop_front();
  }
}

std::vector<int64_t> OutboxTracker::take_deletions() {
  deleting_.insert(deleting_.end(), to_delete_.begin(), to_delete_.end());
  to_delete_.clear();
  return deleting_;
}

void OutboxTracker::deletion_done(bool deleted) {
  if (deleted) {
    for (int64_t id : deleting_) known_.erase(id);
  } else {
    to_delete_.insert(to_delete_.begin(), deleting_.begin(), deleting_.end());
  }
  deleting_.clear();
}

void OutboxTracker::forget(const Ledger& ledger) {
  for (auto row = in_flight_.begin(); row != in_flight_.end();) {
    drop_ledger(row->deliveries, ledger);
    if (row->deliveries.empty()) {
      known_.erase(row->id);
      row = in_flight_.erase(row);
    } else {
      ++row;
    }
  }
  advance();
}

bool OutboxTracker::refers_to(const Ledger& ledger) const {
  return std::any_of(in_flight_.begin(), in_flight_.end(), [&](const Row& row) { return goes_to(row.deliveries, ledger); });
}

}  // namespace pgep
