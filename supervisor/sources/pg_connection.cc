#include "supervisor/sources/pg_connection.h"

#include <cstring>
#include <vector>

namespace pgep {

std::string pg_result_error(const PGresult* result) {
  std::string message = result ? PQresultErrorMessage(result) : "no result";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

std::string pg_sqlstate(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

std::string replication_options(const std::string& uri) {
  // The server's side too: the walsender of a pgep that is frozen (SIGSTOP, a paused VM) or cut
  // off goes after 20 s without a reply, so that the pgep that takes over can stream the slot.
  // pgep answers every keepalive at once and reports every 10 s even when paused.
  std::string options = "-c wal_sender_timeout=20000 -c tcp_user_timeout=10000";
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> parsed(PQconninfoParse(uri.c_str(), nullptr),
                                                                      &PQconninfoFree);
  for (const PQconninfoOption* o = parsed.get(); o && o->keyword; ++o) {
    if (std::strcmp(o->keyword, "options") == 0 && o->val && *o->val) options += std::string(" ") + o->val;
  }
  return options;
}

void PgConnection::connect(const std::string& uri, bool replication) {
  close();
  uri_ = uri;
  replication_ = replication;
  HostList hosts = hosts_of(uri);
  bool names = false;
  for (const std::string& host : hosts.hosts) names = names || is_host_name(host);
  if (hosts.has_hostaddr || !names) return start_connect("");
  connecting_ = true;
  lookup_.start(hosts.hosts, [this](const std::string& hostaddr, const std::string& problem) {
    if (!problem.empty()) {
      connecting_ = false;
      return callbacks_.failed(problem);
    }
    start_connect(hostaddr);
  });
}

// Every connection notices a peer gone without a word: TCP keepalives after 10 s of silence
// (the NOTIFY and outbox sessions mostly only read), and data the peer has not acknowledged
// for 30 s fails the socket (10 s on the server's side of a replication session). Given before
// the URI, so the URI's own settings win; but a replication session's `options` come after it,
// with the URI's own appended (replication_options), or the URI's would drop pgep's.
void PgConnection::start_connect(const std::string& hostaddr) {
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const char* keyword : {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                              "tcp_user_timeout", "dbname", "fallback_application_name"}) {
    keywords.push_back(keyword);
  }
  for (const char* value : {"1", "10", "5", "3", "30000", uri_.c_str(), "pg-event-proxy"}) values.push_back(value);
  std::string options = replication_ ? replication_options(uri_) : "";
  if (replication_) {
    keywords.push_back("replication");
    values.push_back("database");
    keywords.push_back("options");
    values.push_back(options.c_str());
  }
  if (!hostaddr.empty()) {  // resolved off the loop; the names stay for TLS and .pgpass
    keywords.push_back("hostaddr");
    values.push_back(hostaddr.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  // The URI's own application_name wins; pg-event-proxy's name is the fallback, as the seed did.
  conn_.reset(PQconnectStartParams(keywords.data(), values.data(), /*expand_dbname=*/1));
  if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) return callbacks_.failed(error());
  connecting_ = true;
  continue_connect();
}

std::string PgConnection::error() const {
  std::string message = conn_ ? PQerrorMessage(conn_.get()) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

void PgConnection::close() {
  lookup_.cancel();
  held_.reset();
  poll_.reset();
  polled_fd_ = -1;
  connecting_ = false;
  reading_ = true;
  output_pending_ = false;
  conn_.reset();
}

void PgConnection::watch_reads(bool on) {
  reading_ = on;
  if (conn_ && !connecting_) update_poll();
}

bool PgConnection::send_query(const std::string& sql) {
  if (!PQsendQuery(conn_.get(), sql.c_str())) {
    callbacks_.failed(error());
    return false;
  }
  return flush();
}

bool PgConnection::send_query_params(const char* sql, std::span<const char* const> values) {
  if (!PQsendQueryParams(conn_.get(), sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr,
                         /*resultFormat=*/0)) {
    callbacks_.failed(error());
    return false;
  }
  return flush();
}

// A long query or a status update the socket does not take at once goes when it is writable.
bool PgConnection::flush() {
  int pending = PQflush(conn_.get());
  if (pending < 0) {
    callbacks_.failed(error());
    return false;
  }
  if (output_pending_ != (pending == 1)) {
    output_pending_ = pending == 1;
    update_poll();
  }
  return true;
}

void PgConnection::update_poll() { poll((reading_ ? UV_READABLE : 0) | (output_pending_ ? UV_WRITABLE : 0)); }

PgConnection::Answer PgConnection::take_answer(ResultPtr& result) {
  while (conn_ && !PQisBusy(conn_.get())) {
    PGresult* raw = PQgetResult(conn_.get());
    if (!raw) {
      result = std::move(held_);
      held_.reset();
      return Answer::Done;
    }
    ExecStatusType status = PQresultStatus(raw);
    if (status == PGRES_COPY_BOTH) {
      PQclear(raw);
      return Answer::CopyBoth;
    }
    bool error = status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK;
    if (!held_ || error) {
      held_.reset(raw);
    } else {
      PQclear(raw);
    }
  }
  return Answer::Pending;
}

// The socket can change while connecting (another host of a list, a retry without SSL), so
// it is looked up every time.
void PgConnection::poll(int events) {
  int fd = conn_ ? PQsocket(conn_.get()) : -1;
  if (fd < 0) return callbacks_.failed("libpq has no socket");
  if (fd != polled_fd_) {
    poll_ = UvHandle<uv_poll_t>([&](uv_poll_t* p) { return uv_poll_init(loop_, p, fd); });
    poll_.get()->data = this;
    polled_fd_ = fd;
  }
  if (events == 0) {
    uv_poll_stop(poll_.get());
    return;
  }
  uv_poll_start(poll_.get(), events, [](uv_poll_t* p, int status, int ev) {
    if (p->data) static_cast<PgConnection*>(p->data)->on_socket(status, ev);
  });
}

// libuv reports any POLLERR as UV_EBADF ("bad file descriptor") and stops watching; libpq reads
// the socket's own error (refused, reset, unreachable), which says what happened.
void PgConnection::on_socket(int status, int events) {
  if (connecting_) return continue_connect();
  if (status < 0) {
    if (conn_ && !PQconsumeInput(conn_.get())) return callbacks_.failed(error());
    return callbacks_.ready(status, events);
  }
  if ((events & UV_WRITABLE) && !flush()) return;
  if ((events & UV_READABLE) && reading_) callbacks_.ready(status, events);
}

void PgConnection::continue_connect() {
  switch (PQconnectPoll(conn_.get())) {
    case PGRES_POLLING_READING:
      return poll(UV_READABLE);
    case PGRES_POLLING_WRITING:
      return poll(UV_WRITABLE);
    case PGRES_POLLING_OK:
      connecting_ = false;
      if (PQsetnonblocking(conn_.get(), 1) != 0) return callbacks_.failed(error());
      update_poll();
      return callbacks_.connected();
    default:
      connecting_ = false;
      return callbacks_.failed(error());
  }
}

}  // namespace pgep
