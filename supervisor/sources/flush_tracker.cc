#include "supervisor/sources/flush_tracker.h"

#include <algorithm>

namespace pgep {

void FlushTracker::routed(const Delivery& delivery) {
  for (Delivery& last : current_) {
    if (last.ledger == delivery.ledger) {
      last.seq = delivery.seq;
      return;
    }
  }
  current_.push_back(delivery);
}

void FlushTracker::commit(uint64_t end_lsn) {
  open_ = false;
  pending_.push_back({end_lsn, std::move(current_)});
  current_.clear();
  advance();
}

bool FlushTracker::advance() {
  bool moved = false;
  while (!pending_.empty()) {
    const Transaction& t = pending_.front();
    if (!all_acknowledged(t.last_seq)) break;
    if (t.end_lsn > flush_lsn_) {
      flush_lsn_ = t.end_lsn;
      moved = true;
    }
    pending_.pop_front();
  }
  return moved;
}

bool FlushTracker::server_wal_end(uint64_t lsn) {
  if (open_ || !pending_.empty() || lsn <= flush_lsn_) return false;
  flush_lsn_ = lsn;
  return true;
}

bool FlushTracker::refers_to(const Ledger& ledger) const {
  auto in = [&](const Deliveries& deliveries) {
    return std::any_of(deliveries.begin(), deliveries.end(), [&](const Delivery& d) { return d.ledger == &ledger; });
  };
  return in(current_) || std::any_of(pending_.begin(), pending_.end(), [&](const Transaction& t) { return in(t.last_seq); });
}

void FlushTracker::forget(const Ledger& ledger) {
  auto drop = [&](Deliveries& deliveries) {
    deliveries.erase(std::remove_if(deliveries.begin(), deliveries.end(),
                                    [&](const Delivery& d) { return d.ledger == &ledger; }),
                     deliveries.end());
  };
  drop(current_);
  for (Transaction& t : pending_) drop(t.last_seq);
  advance();
}

void FlushTracker::reset(uint64_t lsn) {
  open_ = false;
  current_.clear();
  pending_.clear();
  flush_lsn_ = lsn;
}

}  // namespace pgep
