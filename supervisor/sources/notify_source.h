// The NOTIFY source: one PostgreSQL connection that LISTENs on every channel some bridge reads
// (names quoted, so mixed case works), driven by libpq's non-blocking API on the libuv loop.
// It reconnects with capped backoff and LISTENs again after any failure. Paused, it stops
// reading: notifications wait in PostgreSQL's queue and in libpq's buffer.
#pragma once

#include <libpq-fe.h>
#include <uv.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shared/backoff.h"
#include "shared/uv_handle.h"
#include "supervisor/pg_connection.h"

namespace pgep {

class NotifySource {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_notification(std::string_view channel, std::string_view payload) = 0;
    // Every LISTEN succeeded (true), or the connection was lost (false).
    virtual void on_notify_ready(bool ready) = 0;
  };

  NotifySource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener);
  ~NotifySource();

  void start();
  // Stops delivering notifications until resume(); the connection stays open.
  void pause();
  void resume();
  bool ready() const { return state_ == State::Listening; }

 private:
  enum class State { Idle, Connecting, SendingListen, Listening, Waiting };

  void connect();
  void on_socket(int status, int events);
  void send_listen();
  void read_listen_results();
  void deliver();
  void fail(const std::string& reason);

  uv_loop_t* loop_;
  std::string uri_;
  std::vector<std::string> channels_;
  Listener& listener_;
  PgConnection connection_;
  UvHandle<uv_timer_t> retry_timer_;
  Backoff backoff_{100, 10000};
  State state_ = State::Idle;
  bool paused_ = false;
  std::string last_error_;
};

}  // namespace pgep
