#include "supervisor/link.h"

#include <algorithm>

namespace pgep {

namespace {
// Frames queued for one worker beyond this wait for its acknowledgements: the ledger, not the
// socket buffer, is where events wait.
constexpr size_t kMaxLinkBytes = 4u << 20;
constexpr size_t kByReferenceBytes = 64u << 10;
}  // namespace

Link::Link(uv_loop_t* loop, int fd, const Ledger& ledger, Handler& handler)
    : ledger_(ledger),
      handler_(handler),
      stream_(ipc::FrameStream::open(loop, fd, this)),
      sent_upto_(ledger.last_acknowledged()) {}

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
  for (; it != entries.end() && stream_->pending_bytes() < kMaxLinkBytes; ++it) {
    // A large body goes from the ledger entry itself, which stays until the worker
    // acknowledged it, and so read it: one copy fewer of a large message.
    if (it->body.size() >= kByReferenceBytes) {
      stream_->send_by_reference(*it);
    } else {
      stream_->send(*it);
    }
    sent_upto_ = it->seq;
  }
  stream_->flush();
}

void Link::on_frame(ipc::Frame&& frame) {
  if (auto* ack = std::get_if<ipc::Ack>(&frame)) {
    if (ack->seq > sent_upto_) {
      return handler_.on_link_broken("acknowledged seq " + std::to_string(ack->seq) + " it was never sent");
    }
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
