// The link: the supervisor's end of one worker's socketpair (step 4 of an event's life). It
// sends the ledger's entries the worker has not seen, many frames per write, within a window
// of events and bytes not yet acknowledged, and reads what the worker says. The window is what
// keeps the worker's broker busy while acknowledgements travel back; the rest of a backlog
// waits in the ledger only, so the worker never holds a second copy of it. It trusts nothing
// it reads: an acknowledgement of a seq it never sent, a second Hello or a frame only the
// supervisor sends is a broken link, and the worker is killed.
//
// Called by: WorkerProcess, which owns it for one run of the worker. Calls back: Handler, from
// the loop; after on_link_broken or on_link_closed nothing more comes.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "ipc/frame_stream.h"
#include "supervisor/ledger.h"

namespace pgep {

// How far ahead of the worker's acknowledgements the link may send. A single event larger
// than `bytes` still goes, alone.
struct LinkWindow {
  uint64_t events;
  uint64_t bytes;
  // Twice the worker's own window of unconfirmed publishes: a full window at the broker and the
  // next one already at the worker.
  static LinkWindow for_worker(uint64_t max_in_flight);
};

class Link : public ipc::FrameStream::Handler {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void on_hello(const ipc::Hello& hello) = 0;
    // The worker's broker confirmed every event up to `seq` (never more than was sent).
    virtual void on_ack(uint64_t seq) = 0;
    virtual void on_nack(const ipc::Nack& nack) = 0;
    virtual void on_stats(const ipc::Stats& stats) = 0;
    // The worker broke the protocol; `why` completes "worker pid N ...".
    virtual void on_link_broken(const std::string& why) = 0;
    // The socket closed or failed.
    virtual void on_link_closed(const std::string& reason) = 0;
  };

  // Takes ownership of `fd`. `ledger` must outlive the link. Throws std::runtime_error when
  // libuv refuses the socket.
  Link(uv_loop_t* loop, int fd, const Ledger& ledger, LinkWindow window, Handler& handler);

  void send(const ipc::Frame& frame);
  // Sends the ledger entries the worker has not seen, as far as the window allows.
  void pump();
  bool open() const { return !stream_->closed(); }
  uint64_t sent_upto() const { return sent_upto_; }

 private:
  // ipc::FrameStream::Handler
  void on_frame(ipc::Frame&& frame) override;
  void on_stream_closed(const std::string& reason) override;
  bool window_open(uint64_t next_bytes) const;
  void forget_acknowledged(uint64_t seq);

  const Ledger& ledger_;
  Handler& handler_;
  ipc::FrameStream::Ptr stream_;
  // A new worker has seen nothing the ledger still holds.
  uint64_t sent_upto_;
  LinkWindow window_;
  std::deque<std::pair<uint64_t, uint64_t>> unacknowledged_;  // (seq, bytes) sent, oldest first
  uint64_t unacknowledged_bytes_ = 0;
};

}  // namespace pgep
