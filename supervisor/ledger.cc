#include "supervisor/ledger.h"

#include <algorithm>

namespace pgep {

namespace {
// What an entry costs beyond its strings: the deque slot, the map and the strings' headers.
constexpr uint64_t kEntryOverhead = 256;
}  // namespace

uint64_t Ledger::cost(const ipc::Publish& message) {
  uint64_t bytes = kEntryOverhead + message.routing_key.size() + message.body.size() + message.message_id.size();
  for (const auto& [key, value] : message.headers) bytes += key.size() + value.size();
  return bytes;
}

uint64_t Ledger::append(ipc::Publish&& message) {
  message.seq = next_seq_++;
  bytes_ += cost(message);
  entries_.push_back(std::move(message));
  return entries_.back().seq;
}

uint64_t Ledger::append_held() {
  held_.insert(next_seq_);
  return next_seq_++;
}

size_t Ledger::acknowledge(uint64_t seq) {
  size_t dropped = 0;
  while (!entries_.empty() && entries_.front().seq <= seq) {
    bytes_ -= cost(entries_.front());
    entries_.pop_front();
    ++dropped;
  }
  return dropped;
}

bool Ledger::take(uint64_t seq, ipc::Publish& message) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), seq,
                             [](const ipc::Publish& entry, uint64_t s) { return entry.seq < s; });
  if (it == entries_.end() || it->seq != seq) return false;
  bytes_ -= cost(*it);
  message = std::move(*it);
  entries_.erase(it);
  held_.insert(seq);
  return true;
}

void Ledger::release(uint64_t seq) { held_.erase(seq); }

uint64_t Ledger::last_acknowledged() const {
  uint64_t first_open = next_seq_;
  if (!entries_.empty()) first_open = entries_.front().seq;
  if (!held_.empty()) first_open = std::min(first_open, *held_.begin());
  return first_open - 1;
}

bool all_acknowledged(const Deliveries& deliveries) {
  return std::all_of(deliveries.begin(), deliveries.end(), [](const Delivery& d) { return d.acknowledged(); });
}

bool goes_to(const Deliveries& deliveries, const Ledger& ledger) {
  return std::any_of(deliveries.begin(), deliveries.end(), [&](const Delivery& d) { return d.ledger == &ledger; });
}

void drop_ledger(Deliveries& deliveries, const Ledger& ledger) {
  std::erase_if(deliveries, [&](const Delivery& d) { return d.ledger == &ledger; });
}

}  // namespace pgep
