#include "supervisor/flush_tracker.h"

#include <algorithm>

namespace pgep {

void FlushTracker::routed(const Ledger* ledger, uint64_t seq) {
  for (auto& [l, s] : current_) {
    if (l == ledger) {
      s = seq;
      return;
    }
  }
  current_.emplace_back(ledger, seq);
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
    bool done = std::all_of(t.last_seq.begin(), t.last_seq.end(),
                            [](const auto& entry) { return entry.first->last_acknowledged() >= entry.second; });
    if (!done) break;
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

void FlushTracker::reset(uint64_t lsn) {
  open_ = false;
  current_.clear();
  pending_.clear();
  flush_lsn_ = lsn;
}

}  // namespace pgep
