// The worker loop: one bridge, one broker connection. Receives Publish frames from the
// supervisor, publishes them through its Publisher within a window of unconfirmed messages,
// and acknowledges cumulatively what the broker confirmed. A lost broker is reconnected with
// backoff and everything unconfirmed is published again, in order: nothing is dropped.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <string>

#include "ipc/frame_stream.h"
#include "shared/retry.h"
#include "shared/uv_handle.h"
#include "workers/publisher.h"

namespace pgep {

class Worker : public ipc::FrameStream::Handler, public PublisherListener {
 public:
  Worker(uv_loop_t* loop, int socket_fd);
  ~Worker() override;
  // Says Hello; the loop then runs until the supervisor goes away or says Shutdown.
  void start();
  int exit_status() const { return exit_status_; }

 private:
  struct Pending {
    ipc::Publish message;
    bool confirmed = false;
  };

  // FrameStream::Handler
  void on_frame(ipc::Frame&& frame) override;
  void on_stream_closed(const std::string& reason) override;
  // PublisherListener
  void on_broker_connected() override;
  void on_broker_lost(const std::string& reason) override;
  void on_confirmed(uint64_t seq) override;
  void on_refused(uint64_t seq, const std::string& reason) override;
  void on_unroutable(uint64_t seq, const std::string& reason) override;

  void configure(const ipc::Configure& configure);
  void enqueue(ipc::Publish&& message);
  void pump();
  void acknowledge_confirmed_prefix();
  void schedule_connect();
  void send_stats();
  void stop(int status);
  void stop_with_error(const std::string& reason);
  Pending* find(uint64_t seq);

  uv_loop_t* loop_;
  ipc::FrameStream::Ptr stream_;
  std::unique_ptr<Publisher> publisher_;
  Retry reconnect_;  // the broker, after it was lost or refused a message
  UvHandle<uv_timer_t> stats_timer_;
  std::string bridge_;
  bool log_messages_ = false;
  size_t window_ = 1000;
  bool configured_ = false;
  bool connected_ = false;
  bool shutting_down_ = false;
  bool stopping_ = false;
  bool pumping_ = false;
  std::deque<Pending> pending_;  // received, not yet acknowledged to the supervisor, in seq order
  size_t published_ = 0;         // pending_[0, published_) went out on the current connection
  size_t in_flight_ = 0;         // published and not yet confirmed
  uint64_t count_published_ = 0;
  uint64_t count_confirmed_ = 0;
  uint64_t count_unroutable_ = 0;
  uint64_t count_refused_ = 0;
  int exit_status_ = 0;
};

}  // namespace pgep
