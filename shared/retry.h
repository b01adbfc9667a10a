// Every reconnect in pgep — a PostgreSQL session, a worker's broker, a worker process — follows
// one rule (DESIGN.md): try again after a capped exponential backoff, and log a failure once
// per change of state, not once per attempt. This class is that rule: a Backoff, the one timer
// that waits it out, and the memory of the last failure's reason.
//
// Called by: its owner, on its own libuv loop. Calls back: `attempt`, from the timer, never
// from inside failed() or retry_now(). The owner must outlive nothing here: destroying a Retry
// cancels the pending attempt.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "shared/backoff.h"
#include "shared/uv_handle.h"

namespace pgep {

class Retry {
 public:
  Retry(uv_loop_t* loop, Backoff backoff, std::function<void()> attempt);

  // The connection failed (was_up: it had been working until now). Schedules the next attempt
  // after the backoff's next delay. Returns true when this failure deserves a log line: the
  // first after a success, or a reason unlike the last one.
  [[nodiscard]] bool failed(const std::string& reason, bool was_up);
  // Schedules the next attempt at once, without touching the backoff (a restart on request).
  void retry_now();
  // The connection works: the next failure starts from the initial delay and is logged.
  void succeeded();
  // Drops a scheduled attempt.
  void cancel();
  // The next attempt waits at least `delay_ms` from now (a server's Retry-After); call it after
  // failed(). The backoff itself is not changed.
  void not_before(uint64_t delay_ms);

  // The delay failed() chose, for a log line that says when the next attempt comes.
  uint64_t delay_ms() const { return delay_ms_; }
  const std::string& last_error() const { return last_error_; }
  bool scheduled() const;

 private:
  void schedule(uint64_t delay_ms);

  Backoff backoff_;
  std::function<void()> attempt_;
  UvHandle<uv_timer_t> timer_;
  uint64_t delay_ms_ = 0;
  std::string last_error_;
};

}  // namespace pgep
