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
  size_t limit = probing_ ? 1 : limit_;
  while (in_flight_ < limit && published_ < pending_.size()) {
    Pending& entry = pending_[published_++];
    if (entry.confirmed || entry.refused) continue;  // the broker has it, or it waits apart
    if (probing_) probe_seq_ = entry.message.seq;
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

PublishWindow::Pending* PublishWindow::entry(uint64_t seq) { return locate(pending_, seq); }

void PublishWindow::end_probe(uint64_t seq) {
  if (probing_ && seq == probe_seq_) {
    probing_ = false;
    probe_seq_ = 0;
  }
}

uint64_t PublishWindow::probe_in_flight() const { return probing_ && in_flight_ > 0 ? probe_seq_ : 0; }

const ipc::Publish* PublishWindow::find(uint64_t seq) const {
  const Pending* entry = locate(pending_, seq);
  return entry ? &entry->message : nullptr;
}

bool PublishWindow::confirm(uint64_t seq) {
  Pending* entry = locate(pending_, seq);
  if (!entry || entry->confirmed) return false;
  entry->confirmed = true;
  if (in_flight_ > 0) --in_flight_;
  end_probe(seq);
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

bool PublishWindow::refuse(uint64_t seq, bool counts) {
  Pending* entry = locate(pending_, seq);
  if (!entry || entry->confirmed || entry->refused) return false;
  entry->refused = true;
  if (counts) ++entry->refusals;
  ++refused_;
  if (in_flight_ > 0) --in_flight_;
  end_probe(seq);
  return true;
}

uint32_t PublishWindow::count_refusal(uint64_t seq) {
  Pending* found = entry(seq);
  return found ? ++found->refusals : 0;
}

uint32_t PublishWindow::refusals(uint64_t seq) const {
  const Pending* found = locate(pending_, seq);
  return found ? found->refusals : 0;
}

bool PublishWindow::give_up(uint64_t seq) {
  Pending* found = entry(seq);
  if (!found || found->confirmed) return false;
  if (found->refused) {
    found->refused = false;
    if (refused_ > 0) --refused_;
  }
  found->confirmed = true;
  end_probe(seq);
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

void PublishWindow::restart(bool probe) {
  published_ = 0;
  in_flight_ = 0;
  refused_ = 0;
  probing_ = probe;
  probe_seq_ = 0;
  for (Pending& entry : pending_) entry.refused = false;  // published again in order, with the rest
}

}  // namespace pgep
