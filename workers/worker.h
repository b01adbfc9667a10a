// The worker loop: one bridge, one broker connection. Receives Publish frames from the
// supervisor, publishes them through its Publisher within a window of unconfirmed messages
// (PublishWindow), and acknowledges cumulatively what the broker confirmed. A lost broker is
// reconnected with backoff (Retry) and everything unconfirmed is published again, in order:
// nothing is dropped.
//
// Called by: main.cc (start) and the loop. Calls back: nothing; it talks to the supervisor
// over its socket. On failure: a protocol error from the supervisor stops the worker (the
// supervisor restarts it); a broker failure is retried for ever.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "ipc/frame_stream.h"
#include "shared/log.h"
#include "shared/next_turn.h"
#include "shared/retry.h"
#include "shared/uv_handle.h"
#include "workers/log_throttle.h"
#include "workers/publish_window.h"
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
  // FrameStream::Handler
  void on_frame(ipc::Frame&& frame) override;
  void on_stream_closed(const std::string& reason) override;
  // PublisherListener
  void on_broker_connected() override;
  void on_broker_lost(const std::string& reason) override { lose_broker(reason, false); }
  void on_broker_closed(const std::string& reason) override { lose_broker(reason, true); }
  void on_broker_away(const std::string& reason, uint64_t retry_after_ms) override;
  void on_broker_blocked(bool blocked, const std::string& reason) override;
  void on_confirmed(uint64_t seq) override;
  void on_refused(uint64_t seq, const std::string& reason) override;
  void on_retry(uint64_t seq, const std::string& reason) override;
  void on_unroutable(uint64_t seq, const std::string& reason) override;

  void configure(const ipc::Configure& configure);
  void enqueue(ipc::Publish&& message);
  void pump();
  void acknowledge_confirmed_prefix();
  void broker_answered();
  void schedule_connect();
  void publish_refused_again();
  void lose_broker(const std::string& reason, bool closed_by_broker);
  // Refused more than dead_letter_after times: the supervisor writes it to the dead letters.
  bool over_refusal_limit(uint64_t seq) const;
  void give_up(uint64_t seq, const std::string& reason);
  void log_refusal(uint64_t seq, const std::string& reason);
  void refuse(uint64_t seq, const std::string& reason, bool counts);
  void publish(const ipc::Publish& message);  // counted, logged with log_messages
  void send_stats();
  void stop(int status);
  void stop_with_error(const std::string& reason);

  uv_loop_t* loop_;
  ipc::FrameStream::Ptr stream_;
  std::unique_ptr<Publisher> publisher_;
  Retry reconnect_;      // the broker, after it was lost
  Retry refusal_retry_;  // a message the broker refused, published again alone
  UvHandle<uv_timer_t> stats_timer_;
  NextTurn acknowledge_turn_;  // acknowledge_confirmed_prefix, once per loop turn
  std::string bridge_;
  Logger log_;
  bool log_messages_ = false;
  std::optional<uint64_t> dead_letter_after_;  // nullopt: never give up
  bool configured_ = false;
  bool connected_ = false;
  bool blocked_ = false;  // connected, but the broker takes nothing for now
  bool answer_pending_ = false;  // connected to a broker that has not answered yet (HTTP)
  bool shutting_down_ = false;
  bool stopping_ = false;
  bool pumping_ = false;
  PublishWindow window_;
  uint64_t count_published_ = 0;
  uint64_t count_confirmed_ = 0;
  uint64_t count_unroutable_ = 0;
  LogThrottle unroutable_log_;  // "dropped" lines: once a minute per routing key
  LogThrottle refused_log_;     // "refused" lines: likewise
  uint64_t count_refused_ = 0;
  int exit_status_ = 0;
};

}  // namespace pgep
