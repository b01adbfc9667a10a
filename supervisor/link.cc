#include "supervisor/link.h"

#include <algorithm>

namespace pgep {

namespace {
// Bytes of bodies a worker may hold unacknowledged: with the events' own bound, what a worker
// costs in memory whatever the backlog.
constexpr uint64_t kWindowBytes = 4u << 20;
constexpr size_t kByReferenceBytes = 64u << 10;
}  // namespace

LinkWindow LinkWindow::for_worker(uint64_t max_in_flight) {
  return LinkWindow{2 * std::max<uint64_t>(max_in_flight, 1), kWindowBytes};
}

Link::Link(uv_loop_t* loop, int fd, const Ledger& ledger, LinkWindow window, Handler& handler)
    : ledger_(ledger),
      handler_(handler),
      stream_(ipc::FrameStream::open(loop, fd, this)),
      sent_upto_(ledger.last_acknowledged()),
      window_(window) {}

bool Link::window_open(uint64_t next_bytes) const {
  if (unacknowledged_.empty()) return true;  // one event always goes, however large
  return unacknowledged_.size() < window_.events && unacknowledged_bytes_ + next_bytes <= window_.bytes;
}

void Link::forget_acknowledged(uint64_t seq) {
  while (!unacknowledged_.empty() && unacknowledged_.front().first <= seq) {
    unacknowledged_bytes_ -= unacknowledged_.front().second;
    unacknowledged_.pop_front();
  }
}

void Link::send(const ipc::Frame& frame) {
  stream_->send(frame);
  stream_->flush();
}

void Link::pump() {
  if (stream_->closed()) return;
  const auto& entries = ledger_.entries();
  if (entries.empty() || entries.back().seq <= sent_upto_) return;
  // Entries are in seq order, with gaps where dead letters left: find the first one not yet sent.
  auto it = std::upper_bound(entries.begin(), entries.end(), sent_upto_,
                             [](uint64_t s, const ipc::Publish& entry) { return s < entry.seq; });
  for (; it != entries.end() && window_open(it->body.size()); ++it) {
    // A large body goes from the ledger entry itself, which stays until the worker
    // acknowledged it, and so read it: one copy fewer of a large message.
    if (it->body.size() >= kByReferenceBytes) {
      stream_->send_by_reference(*it);
    } else {
      stream_->send(*it);
    }
    sent_upto_ = it->seq;
    unacknowledged_.emplace_back(it->seq, it->body.size());
    unacknowledged_bytes_ += it->body.size();
  }
  stream_->flush();
}

void Link::on_frame(ipc::Frame&& frame) {
  if (auto* ack = std::get_if<ipc::Ack>(&frame)) {
    if (ack->seq > sent_upto_) {
      return handler_.on_link_broken("acknowledged seq " + std::to_string(ack->seq) + " it was never sent");
    }
    forget_acknowledged(ack->seq);
    return handler_.on_ack(ack->seq);
  }
  if (auto* hello = std::get_if<ipc::Hello>(&frame)) return handler_.on_hello(*hello);
  if (auto* stats = std::get_if<ipc::Stats>(&frame)) return handler_.on_stats(*stats);
  if (auto* nack = std::get_if<ipc::Nack>(&frame)) {
    if (nack->seq > sent_upto_) {
      return handler_.on_link_broken("refused seq " + std::to_string(nack->seq) + " it was never sent");
    }
    return handler_.on_nack(*nack);
  }
  handler_.on_link_broken(std::string("sent an unexpected ") + ipc::frame_type_name(ipc::frame_type(frame)) + " frame");
}

void Link::on_stream_closed(const std::string& reason) { handler_.on_link_closed(reason); }

}  // namespace pgep
