#include "workers/publish_window.h"

#include <algorithm>

namespace pgep {

std::optional<std::string> PublishWindow::add(ipc::Publish&& message) {
  if (!pending_.empty() && message.seq <= pending_.back().message.seq) {
    return "Publish seq " + std::to_string(message.seq) + " after " + std::to_string(pending_.back().message.seq);
  }
  pending_.push_back(Pending{std::move(message), false});
  return std::nullopt;
}

const ipc::Publish* PublishWindow::next() {
  while (in_flight_ < limit_ && published_ < pending_.size()) {
    Pending& entry = pending_[published_++];
    if (entry.confirmed) continue;  // the broker has it from an earlier connection
    ++in_flight_;
    return &entry.message;
  }
  return nullptr;
}

namespace {

// The entry of `seq` in a deque in seq order (const or not), or null.
template <typename Entries>
auto locate(Entries& pending, uint64_t seq) -> decltype(&pending.front()) {
  auto it = std::lower_bound(pending.begin(), pending.end(), seq,
                             [](const auto& p, uint64_t s) { return p.message.seq < s; });
  return it != pending.end() && it->message.seq == seq ? &*it : nullptr;
}

}  // namespace

const ipc::Publish* PublishWindow::find(uint64_t seq) const {
  const Pending* entry = locate(pending_, seq);
  return entry ? &entry->message : nullptr;
}

bool PublishWindow::confirm(uint64_t seq) {
  Pending* entry = locate(pending_, seq);
  if (!entry || entry->confirmed) return false;
  entry->confirmed = true;
  if (in_flight_ > 0) --in_flight_;
  return true;
}

std::optional<uint64_t> PublishWindow::take_confirmed_prefix() {
  std::optional<uint64_t> last;
  while (!pending_.empty() && pending_.front().confirmed) {
    last = pending_.front().message.seq;
    pending_.pop_front();
    if (published_ > 0) --published_;
  }
  return last;
}

bool PublishWindow::refuse(uint64_t seq) {
  Pending* entry = locate(pending_, seq);
  if (!entry || entry->confirmed || entry->refused) return false;
  entry->refused = true;
  ++refused_;
  if (in_flight_ > 0) --in_flight_;
  return true;
}

std::vector<const ipc::Publish*> PublishWindow::take_refused() {
  std::vector<const ipc::Publish*> again;
  for (Pending& entry : pending_) {
    if (!entry.refused) continue;
    entry.refused = false;
    ++in_flight_;
    again.push_back(&entry.message);
  }
  refused_ = 0;
  return again;
}

void PublishWindow::restart() {
  published_ = 0;
  in_flight_ = 0;
  refused_ = 0;
  for (Pending& entry : pending_) entry.refused = false;  // published again in order, with the rest
}

}  // namespace pgep
