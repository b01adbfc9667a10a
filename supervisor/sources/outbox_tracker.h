// Which rows of events.events may be deleted: a row goes once every bridge it was routed to
// acknowledged it (in routing order), or at once when no bridge reads its channel. Rows are
// deleted by id, since ids commit out of order; a drain that reads a row again before its
// DELETE was sent skips it. Pure bookkeeping, no I/O: OutboxSource sends the queries.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_set>
#include <vector>

#include "supervisor/ledger.h"

namespace pgep {

class OutboxTracker {
 public:
  // A drain read row `id`: true when it is new and is to be routed, false when it was routed
  // already and is not yet deleted.
  bool is_new(int64_t id) { return known_.insert(id).second; }
  // Row `id` (new) went there; with no delivery it is deleted at once.
  void routed(int64_t id, Deliveries deliveries);
  // Moves every row at the front all of whose deliveries were acknowledged to the deletions.
  void advance();
  bool has_deletions() const { return !to_delete_.empty(); }
  // The ids to DELETE now. They stay known (a drain skips them) until deletion_done(true);
  // after deletion_done(false) they wait to be deleted again, never to be published again.
  std::vector<int64_t> take_deletions();
  void deletion_done(bool deleted);

  size_t rows_in_flight() const { return in_flight_.size(); }
  // Whether a row in flight went to `ledger` (which must then live on).
  bool refers_to(const Ledger& ledger) const;
  // A reload removed the bridge of `ledger`: rows stop waiting for it; a row that went to it
  // alone is forgotten, not deleted (it stays in the table for a bridge that wants it).
  void forget(const Ledger& ledger);

 private:
  struct Row {
    int64_t id;
    Deliveries deliveries;
  };
  std::deque<Row> in_flight_;          // routed, not all acknowledged, in routing order
  std::vector<int64_t> to_delete_;
  std::vector<int64_t> deleting_;      // the DELETE under way
  std::unordered_set<int64_t> known_;  // ids in in_flight_, to_delete_ or deleting_
};

}  // namespace pgep
