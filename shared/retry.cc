#include "shared/retry.h"

namespace pgep {

Retry::Retry(uv_loop_t* loop, Backoff backoff, std::function<void()> attempt)
    : backoff_(backoff),
      attempt_(std::move(attempt)),
      timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  timer_.get()->data = this;
}

bool Retry::failed(const std::string& reason, bool was_up) {
  bool worth_logging = was_up || reason != last_error_;
  last_error_ = reason;
  schedule(backoff_.next());
  return worth_logging;
}

void Retry::retry_now() { schedule(0); }

void Retry::succeeded() {
  // Reset here so that the next failure, however soon, waits the shortest delay and is logged.
  backoff_.reset();
  last_error_.clear();
}

void Retry::cancel() { uv_timer_stop(timer_.get()); }

void Retry::not_before(uint64_t delay_ms) {
  if (delay_ms > delay_ms_) schedule(delay_ms);
}

bool Retry::scheduled() const { return uv_is_active(timer_.base()) != 0; }

void Retry::schedule(uint64_t delay_ms) {
  delay_ms_ = delay_ms;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    if (t->data) static_cast<Retry*>(t->data)->attempt_();
  }, delay_ms, 0);
}

}  // namespace pgep
