#include "supervisor/sources/pg_session.h"

#include "shared/log.h"

namespace pgep {

namespace {
constexpr uint64_t kConnectTimeoutMs = 15000;
// LISTEN and the first queries answer at once; a replication session's handshake may wait for
// running transactions (creating a slot), so it has no such deadline.
constexpr uint64_t kHandshakeTimeoutMs = 45000;
}  // namespace

PgSession::PgSession(uv_loop_t* loop, std::string name, std::string uri, bool replication, Owner& owner)
    : name_(std::move(name)),
      uri_(std::move(uri)),
      replication_(replication),
      owner_(owner),
      connection_(loop, {[this] { on_open(); },
                         [this](int status, int) { on_socket(status); },
                         [this](const std::string& reason) { fail(reason); }}),
      retry_(loop, Backoff(100, 10000), [this] { connect(); }),
      connect_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  connect_timer_.get()->data = this;
}

void PgSession::connect() {
  state_ = State::Connecting;
  uv_timer_start(connect_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<PgSession*>(t->data);
    if (self->state_ == State::Connecting) {
      self->fail("no connection after " + std::to_string(kConnectTimeoutMs / 1000) + " s");
    }
  }, kConnectTimeoutMs, 0);
  connection_.connect(uri_, replication_);
}

void PgSession::on_socket(int status) {
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (!PQconsumeInput(connection_.get())) return fail(connection_.error());
  owner_.on_session_input();
}

void PgSession::on_open() {
  uv_timer_stop(connect_timer_.get());
  state_ = State::Open;
  if (handshake_deadline_) {
    uv_timer_start(connect_timer_.get(), [](uv_timer_t* t) {
      auto* self = static_cast<PgSession*>(t->data);
      if (self->state_ == State::Open) {
        self->fail("no answer to the first commands for " + std::to_string(kHandshakeTimeoutMs / 1000) + " s");
      }
    }, kHandshakeTimeoutMs, 0);
  }
  owner_.on_session_open();
}

void PgSession::ready() {
  uv_timer_stop(connect_timer_.get());
  state_ = State::Ready;
  retry_.succeeded();
}

void PgSession::fail(const std::string& reason) {
  if (state_ == State::Stopped || state_ == State::Waiting) return;
  bool was_ready = state_ == State::Ready;
  uv_timer_stop(connect_timer_.get());
  connection_.close();
  state_ = State::Waiting;
  owner_.on_session_lost(was_ready);
  if (retry_.failed(reason, was_ready)) {
    log_warn(name_ + " connection " + (was_ready ? "lost" : "failed") + ": " + reason + "; retrying with backoff (" +
             owner_.while_down() + ")");
  }
}

void PgSession::stop() {
  retry_.cancel();
  uv_timer_stop(connect_timer_.get());
  connection_.close();
  state_ = State::Stopped;
}

}  // namespace pgep
