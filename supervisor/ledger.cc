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

size_t Ledger::acknowledge(uint64_t seq) {
  size_t dropped = 0;
  while (!entries_.empty() && entries_.front().seq <= seq) {
    bytes_ -= cost(entries_.front());
    entries_.pop_front();
    ++dropped;
  }
  if (seq > last_acknowledged_) last_acknowledged_ = seq;
  return dropped;
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
