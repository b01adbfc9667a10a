#include "supervisor/sources/bridge_progress.h"

namespace pgep {

void BridgeProgress::routed(const Delivery& delivery, const WalPosition& position) {
  routed_[delivery.ledger].emplace_back(delivery.seq, position);
}

bool BridgeProgress::advance() {
  bool moved = false;
  for (auto& [ledger, events] : routed_) {
    while (!events.empty() && events.front().first <= ledger->last_acknowledged()) {
      acknowledged_[ledger->name()] = events.front().second;
      events.pop_front();
      moved = true;
    }
  }
  for (auto it = routed_.begin(); it != routed_.end();) it = it->second.empty() ? routed_.erase(it) : std::next(it);
  return moved;
}

void BridgeProgress::resume(const std::map<std::string, WalPosition>& saved, uint64_t slot_confirmed) {
  skip_until_.clear();
  for (const auto& [bridge, position] : saved) {
    if (position.end != 0 && position.end <= slot_confirmed) continue;  // not replayed
    skip_until_[bridge] = position;
    acknowledged_[bridge] = position;  // still true, and saved again as is until it moves
  }
}

bool BridgeProgress::skip(const std::string& bridge, const WalPosition& position) {
  auto found = skip_until_.find(bridge);
  if (found == skip_until_.end()) return false;
  const WalPosition& until = found->second;
  // The stream went past where the saved unit ended without showing it (a unit that began, or
  // ended, after that): nothing more to skip. Cannot happen by the reasoning above; a guard.
  if (until.end != 0 && (position.unit > until.end || position.end > until.end)) {
    skip_until_.erase(found);
    return false;
  }
  // A unit before the saved one in stream order, or an event of it up to the saved one.
  if (position.unit != until.unit || position.ordinal < until.ordinal) {
    ++skipped_;
    return true;
  }
  bool last = position.ordinal == until.ordinal;
  skip_until_.erase(found);
  if (last) ++skipped_;
  return last;
}

void BridgeProgress::forget(const Ledger& ledger) {
  routed_.erase(&ledger);
  acknowledged_.erase(ledger.name());
  skip_until_.erase(ledger.name());
}

bool BridgeProgress::refers_to(const Ledger& ledger) const { return routed_.count(&ledger) != 0; }

}  // namespace pgep
