#include "supervisor/notify_source.h"

#include "shared/log.h"
#include "shared/uri.h"

namespace pgep {

NotifySource::NotifySource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener)
    : loop_(loop),
      uri_(std::move(uri)),
      channels_(std::move(channels)),
      listener_(listener),
      connection_(loop, {[this] { send_listen(); },
                         [this](int status, int events) { on_socket(status, events); },
                         [this](const std::string& reason) { fail(reason); }}),
      retry_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  retry_timer_.get()->data = this;
}

NotifySource::~NotifySource() = default;

void NotifySource::start() { connect(); }

void NotifySource::connect() {
  state_ = State::Connecting;
  connection_.connect(uri_, /*replication=*/false);
}

void NotifySource::send_listen() {
  PGconn* conn = connection_.get();
  std::string sql;
  for (const std::string& channel : channels_) {
    std::unique_ptr<char, decltype(&PQfreemem)> quoted(
        PQescapeIdentifier(conn, channel.data(), channel.size()), &PQfreemem);
    if (!quoted) return fail(connection_.error());
    sql += "LISTEN " + std::string(quoted.get()) + ";";
  }
  state_ = State::SendingListen;
  connection_.send_query(sql);
}

void NotifySource::on_socket(int status, int) {
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (!PQconsumeInput(connection_.get())) return fail(connection_.error());
  if (state_ == State::SendingListen) return read_listen_results();
  deliver();
}

void NotifySource::read_listen_results() {
  while (!PQisBusy(connection_.get())) {
    PGresult* result = PQgetResult(connection_.get());
    if (!result) {
      state_ = State::Listening;
      backoff_.reset();
      log_info("listening on " + std::to_string(channels_.size()) + " NOTIFY channel(s) at " + mask_uri_password(uri_));
      last_error_.clear();
      listener_.on_notify_ready(true);
      return deliver();
    }
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    std::string message = ok ? "" : PQresultErrorMessage(result);
    PQclear(result);
    if (!ok) return fail("LISTEN failed: " + message);
  }
}

void NotifySource::deliver() {
  if (paused_ || state_ != State::Listening) return;
  while (!paused_) {
    std::unique_ptr<PGnotify, decltype(&PQfreemem)> notify(PQnotifies(connection_.get()), &PQfreemem);
    if (!notify) break;
    listener_.on_notification(notify->relname, notify->extra);
  }
  // Paused with notifications still in libpq's buffer: stop reading the socket as well, so
  // they wait in PostgreSQL rather than in this process's memory.
  if (paused_) connection_.watch_reads(false);
}

void NotifySource::pause() {
  if (paused_) return;
  paused_ = true;
  if (state_ == State::Listening) connection_.watch_reads(false);
  log_info("NOTIFY source paused: a bridge's ledger is full");
}

void NotifySource::resume() {
  if (!paused_) return;
  paused_ = false;
  log_info("NOTIFY source resumed");
  if (state_ != State::Listening) return;
  deliver();
  if (!paused_) connection_.watch_reads(true);
}

void NotifySource::fail(const std::string& reason) {
  bool was_ready = state_ == State::Listening;
  connection_.close();
  state_ = State::Waiting;
  if (was_ready) listener_.on_notify_ready(false);
  uint64_t delay = backoff_.next();
  if (was_ready || reason != last_error_) {
    log_warn("NOTIFY connection " + std::string(was_ready ? "lost" : "failed") + ": " + reason +
             "; retrying with backoff (notifications sent meanwhile are lost: PostgreSQL keeps none for "
             "a listener that is not connected)");
  }
  last_error_ = reason;
  uv_timer_start(retry_timer_.get(), [](uv_timer_t* t) { static_cast<NotifySource*>(t->data)->connect(); }, delay, 0);
}

}  // namespace pgep
