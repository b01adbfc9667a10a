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
  return goes_to(current_, ledger) ||
         std::any_of(pending_.begin(), pending_.end(), [&](const Transaction& t) { return goes_to(t.last_seq, ledger); });
}

void FlushTracker::forget(const Ledger& ledger) {
  drop_ledger(current_, ledger);
  for (Transaction& t : pending_) drop_ledger(t.last_seq, ledger);
  advance();
}

void FlushTracker::reset(uint64_t lsn) {
  open_ = false;
  current_.clear();
  pending_.clear();
  flush_lsn_ = lsn;
}

}  // namespace pgep
