#include "supervisor/notify_source.h"

#include "shared/log.h"
#include "shared/uri.h"

namespace pgep {

namespace {

std::string pq_error(PGconn* conn) {
  std::string message = conn ? PQerrorMessage(conn) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace

NotifySource::NotifySource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener)
    : loop_(loop),
      uri_(std::move(uri)),
      channels_(std::move(channels)),
      listener_(listener),
      retry_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  retry_timer_.get()->data = this;
}

NotifySource::~NotifySource() {
  poll_.reset();
  conn_.reset();
}

void NotifySource::start() { connect(); }

void NotifySource::connect() {
  poll_.reset();
  polled_fd_ = -1;
  // The URI's own application_name wins; pg-event-proxy's name is the fallback, as the seed did.
  const char* keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {uri_.c_str(), "pg-event-proxy", nullptr};
  conn_.reset(PQconnectStartParams(keywords, values, /*expand_dbname=*/1));
  if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) return fail(pq_error(conn_.get()));
  state_ = State::Connecting;
  continue_connect();
}

// Polls the socket libpq uses for the direction it asked for. The socket can change while
// connecting (another host of a list, a retry without SSL), so it is looked up every time.
void NotifySource::watch(int events) {
  int fd = PQsocket(conn_.get());
  if (fd < 0) return fail("libpq has no socket");
  if (fd != polled_fd_) {
    poll_ = UvHandle<uv_poll_t>([&](uv_poll_t* p) { return uv_poll_init(loop_, p, fd); });
    poll_.get()->data = this;
    polled_fd_ = fd;
  }
  uv_poll_start(poll_.get(), events, [](uv_poll_t* p, int status, int ev) {
    if (p->data) static_cast<NotifySource*>(p->data)->on_socket(status, ev);
  });
}

void NotifySource::continue_connect() {
  switch (PQconnectPoll(conn_.get())) {
    case PGRES_POLLING_READING:
      return watch(UV_READABLE);
    case PGRES_POLLING_WRITING:
      return watch(UV_WRITABLE);
    case PGRES_POLLING_OK:
      return send_listen();
    default:
      return fail(pq_error(conn_.get()));
  }
}

void NotifySource::send_listen() {
  if (PQsetnonblocking(conn_.get(), 1) != 0) return fail(pq_error(conn_.get()));
  std::string sql;
  for (const std::string& channel : channels_) {
    std::unique_ptr<char, decltype(&PQfreemem)> quoted(
        PQescapeIdentifier(conn_.get(), channel.data(), channel.size()), &PQfreemem);
    if (!quoted) return fail(pq_error(conn_.get()));
    sql += "LISTEN " + std::string(quoted.get()) + ";";
  }
  if (!PQsendQuery(conn_.get(), sql.c_str())) return fail(pq_error(conn_.get()));
  state_ = State::SendingListen;
  flush_listen();
}

// Many channels make a long query: what the socket does not take at once goes when it is
// writable again, while the results are read as they come.
void NotifySource::flush_listen() {
  int pending = PQflush(conn_.get());
  if (pending < 0) return fail(pq_error(conn_.get()));
  watch(pending ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

void NotifySource::on_socket(int status, int events) {
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (state_ == State::Connecting) return continue_connect();
  if (state_ == State::SendingListen && (events & UV_WRITABLE)) {
    flush_listen();
    if (state_ != State::SendingListen) return;
  }
  if (!PQconsumeInput(conn_.get())) return fail(pq_error(conn_.get()));
  if (state_ == State::SendingListen) return read_listen_results();
  deliver();
}

void NotifySource::read_listen_results() {
  while (!PQisBusy(conn_.get())) {
    PGresult* result = PQgetResult(conn_.get());
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
    std::unique_ptr<PGnotify, decltype(&PQfreemem)> notify(PQnotifies(conn_.get()), &PQfreemem);
    if (!notify) break;
    listener_.on_notification(notify->relname, notify->extra);
  }
  // Paused with notifications still in libpq's buffer: stop reading the socket as well, so
  // they wait in PostgreSQL rather than in this process's memory.
  if (paused_ && poll_) uv_poll_stop(poll_.get());
}

void NotifySource::pause() {
  if (paused_) return;
  paused_ = true;
  if (poll_ && state_ == State::Listening) uv_poll_stop(poll_.get());
  log_info("NOTIFY source paused: a bridge's ledger is full");
}

void NotifySource::resume() {
  if (!paused_) return;
  paused_ = false;
  log_info("NOTIFY source resumed");
  if (state_ != State::Listening) return;
  deliver();
  if (!paused_) watch(UV_READABLE);
}

void NotifySource::fail(const std::string& reason) {
  bool was_ready = state_ == State::Listening;
  poll_.reset();
  polled_fd_ = -1;
  conn_.reset();
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
