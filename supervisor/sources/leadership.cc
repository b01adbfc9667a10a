#include "supervisor/sources/leadership.h"

#include <algorithm>

#include "shared/log.h"

namespace pgep {

namespace {

// The lock's first key: "pgep" in ASCII, so pgep's lock is told from an application's.
constexpr const char* kLockClass = "1885824368";
// The lease is given up this much before PostgreSQL would end the session.
constexpr uint64_t kMarginPercent = 20;
constexpr uint64_t kTryEveryMs = 1000;

}  // namespace

Leadership::Leadership(uv_loop_t* loop, std::string uri, std::string slot, uint64_t takeover_ms, Listener& listener)
    : loop_(loop),
      slot_(std::move(slot)),
      takeover_ms_(takeover_ms),
      listener_(listener),
      session_(loop, "lock", std::move(uri), /*replication=*/false, *this),
      tick_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  tick_.get()->data = this;
  uint64_t every = std::min(kTryEveryMs, takeover_ms_ / 4);
  uv_timer_start(tick_.get(), [](uv_timer_t* t) { static_cast<Leadership*>(t->data)->on_tick(); }, every, every);
}

void Leadership::on_session_open() {
  // A session left idle for the takeover timeout is ended by PostgreSQL, its lock with it.
  send(Command::Setup, "SET idle_session_timeout = " + std::to_string(takeover_ms_));
}

void Leadership::send(Command command, const std::string& sql) {
  command_ = command;
  sent_ms_ = uv_now(loop_);
  session_.connection().send_query(sql);  // a failure comes back through on_session_lost
}

void Leadership::on_session_input() {
  PgConnection::ResultPtr result{nullptr, &PQclear};
  if (command_ == Command::None || session_.connection().take_answer(result) != PgConnection::Answer::Done) return;
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  std::string value = ok && status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0 ? PQgetvalue(result.get(), 0, 0) : "";
  answered(ok, value, ok ? "" : pg_result_error(result.get()));
}

void Leadership::answered(bool ok, const std::string& value, const std::string& error) {
  Command command = std::exchange(command_, Command::None);
  if (!ok && command != Command::Setup) return session_.fail("the lock session's query failed: " + error);
  switch (command) {
    case Command::Setup:
      // PostgreSQL before 14 has no idle_session_timeout: the lock of a frozen pgep then lasts
      // until its connection dies (TCP keepalives), not takeover_timeout.
      if (!ok) log_warn("the lock session has no lease (" + error + "): a frozen active pgep keeps the lock until its connection dies");
      session_.ready();
      return try_lock();
    case Command::TryLock:
      if (value != "t") {
        if (!standby_said_) log_info("standby: another pgep holds the lock of slot " + slot_ + "; trying every second");
        standby_said_ = true;
        return;
      }
      renewed_ms_ = sent_ms_;
      backend_pid_ = PQbackendPID(session_.conn());
      active_ = true;
      standby_said_ = false;
      ++takeovers_;
      log_info("active: this pgep holds the lock of slot " + slot_ + "; forwarding");
      return listener_.on_active();
    case Command::Renew:
      renewed_ms_ = sent_ms_;
      return;
    case Command::None:
      return;
  }
}

void Leadership::try_lock() {
  send(Command::TryLock, std::string("SELECT pg_try_advisory_lock(") + kLockClass +
                             ", hashtext(current_database() || '/' || '" + slot_ + "'))");
}

void Leadership::on_tick() {
  uint64_t now = uv_now(loop_);
  if (active_ && now - renewed_ms_ >= takeover_ms_ * (100 - kMarginPercent) / 100) {
    return session_.fail("the lease ran out: no renewal for " + std::to_string((now - renewed_ms_) / 1000) +
                         " s (frozen, or PostgreSQL unreachable)");
  }
  if (!session_.is_ready() && command_ != Command::Setup) return;
  if (command_ != Command::None) {
    if (now - sent_ms_ >= takeover_ms_ / 2) session_.fail("no answer on the lock session");
    return;
  }
  if (active_ && now - renewed_ms_ >= takeover_ms_ / 4) {
    send(Command::Renew, "SELECT 1");
  } else if (!active_) {
    try_lock();
  }
}

void Leadership::on_session_lost(bool) {
  command_ = Command::None;
  if (active_) stand_down("its lock session was lost");
}

void Leadership::stand_down(const std::string& why) {
  active_ = false;
  log_warn("standby: " + why + "; stopped forwarding (another pgep may take over)");
  listener_.on_standby(why);
}

std::string Leadership::holder_condition() const {
  return std::string("EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = ") + kLockClass +
         " AND objsubid = 2 AND granted AND pid = " + std::to_string(backend_pid_) + ")";
}

std::string Leadership::while_down() const { return "this pgep stands by until it has the lock again"; }

}  // namespace pgep
