#include "supervisor/sources/notify_source.h"

#include <algorithm>
#include <memory>

#include "shared/log.h"
#include "shared/uri.h"

namespace pgep {

NotifySource::NotifySource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener)
    : uri_(uri),
      channels_(std::move(channels)),
      listener_(listener),
      session_(loop, "NOTIFY", std::move(uri), /*replication=*/false, *this),
      ping_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  ping_timer_.get()->data = this;
}

void NotifySource::on_session_open() {
  listened_.clear();  // a new session listens to nothing yet
  command_ = Command::None;
  std::string sql;
  if (!listen_commands(channels_, sql)) return session_.fail(session_.connection().error());
  session_.connection().send_query(sql);
}

bool NotifySource::listen_commands(const std::vector<std::string>& wanted, std::string& sql) {
  auto quoted = [this](const std::string& channel) {
    std::unique_ptr<char, decltype(&PQfreemem)> q(PQescapeIdentifier(session_.conn(), channel.data(), channel.size()),
                                                 &PQfreemem);
    return q ? std::string(q.get()) : std::string();
  };
  auto has = [](const std::vector<std::string>& list, const std::string& c) {
    return std::find(list.begin(), list.end(), c) != list.end();
  };
  for (const std::string& channel : wanted) {
    if (has(listened_, channel)) continue;
    std::string name = quoted(channel);
    if (name.empty()) return false;
    sql += "LISTEN " + name + ";";
  }
  for (const std::string& channel : listened_) {
    if (has(wanted, channel)) continue;
    std::string name = quoted(channel);
    if (name.empty()) return false;
    sql += "UNLISTEN " + name + ";";
  }
  listened_ = wanted;
  return true;
}

void NotifySource::set_channels(std::vector<std::string> channels) {
  channels_ = std::move(channels);
  if (session_.is_ready() && command_ == Command::None) send_changes();
}

void NotifySource::send_changes() {
  std::string sql;
  if (!listen_commands(channels_, sql)) return session_.fail(session_.connection().error());
  if (sql.empty()) return;
  command_ = Command::Change;
  command_sent_ms_ = uv_now(ping_timer_.get()->loop);
  log_info("NOTIFY: " + sql);
  session_.connection().send_query(sql);
}

void NotifySource::on_session_input() {
  if (!session_.is_ready()) return read_listen_results();
  if (command_ != Command::None) read_command_results();
  deliver();
}

// The answer to a reload's LISTEN/UNLISTEN or to a ping; a change asked for meanwhile goes next.
void NotifySource::read_command_results() {
  PgConnection::ResultPtr result{nullptr, &PQclear};
  if (session_.connection().take_answer(result) != PgConnection::Answer::Done) return;
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return session_.fail(std::string(command_ == Command::Ping ? "ping" : "LISTEN") + " failed: " +
                         pg_result_error(result.get()));
  }
  command_ = Command::None;
  if (listened_ != channels_) send_changes();
}

void NotifySource::on_ping_tick() {
  uint64_t now = uv_now(ping_timer_.get()->loop);
  if (!session_.is_ready() || paused_) {
    command_sent_ms_ = now;  // paused, it reads nothing: no answer can come
    return;
  }
  if (command_ != Command::None) {
    if (now - command_sent_ms_ >= kPingMs) {
      session_.fail("no answer from PostgreSQL for " + std::to_string(kPingMs / 1000) +
                    " s (a half-open connection?)");
    }
    return;
  }
  command_ = Command::Ping;
  command_sent_ms_ = now;
  session_.connection().send_query("SELECT 1");
}

void NotifySource::read_listen_results() {
  PGconn* conn = session_.conn();
  while (!PQisBusy(conn)) {
    PGresult* result = PQgetResult(conn);
    if (!result) {
      session_.ready();
      uv_timer_start(ping_timer_.get(), [](uv_timer_t* t) {
        if (t->data) static_cast<NotifySource*>(t->data)->on_ping_tick();
      }, kPingMs, kPingMs);
      log_info("listening on " + std::to_string(listened_.size()) + " NOTIFY channel(s) at " + mask_uri_password(uri_));
      listener_.on_notify_ready(true);
      if (listened_ != channels_) send_changes();  // a reload came during the handshake
      return deliver();
    }
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    std::string message = ok ? "" : PQresultErrorMessage(result);
    PQclear(result);
    if (!ok) return session_.fail("LISTEN failed: " + message);
  }
}

void NotifySource::deliver() {
  if (paused_ || !session_.is_ready()) return;
  while (!paused_) {
    std::unique_ptr<PGnotify, decltype(&PQfreemem)> notify(PQnotifies(session_.conn()), &PQfreemem);
    if (!notify) break;
    listener_.on_notification(notify->relname, notify->extra);
  }
  // Paused with notifications still in libpq's buffer: stop reading the socket as well, so
  // they wait in PostgreSQL rather than in this process's memory.
  if (paused_) session_.connection().watch_reads(false);
}

void NotifySource::on_session_lost(bool was_ready) {
  uv_timer_stop(ping_timer_.get());
  command_ = Command::None;
  if (was_ready) listener_.on_notify_ready(false);
}

std::string NotifySource::while_down() const {
  return "notifications sent meanwhile are lost: PostgreSQL keeps none for a listener that is not connected";
}

void NotifySource::pause() {
  if (paused_) return;
  paused_ = true;
  if (session_.is_ready()) session_.connection().watch_reads(false);
  log_info("NOTIFY source paused: a bridge's ledger is full");
}

void NotifySource::resume() {
  if (!paused_) return;
  paused_ = false;
  log_info("NOTIFY source resumed");
  if (!session_.is_ready()) return;
  deliver();
  if (!paused_) session_.connection().watch_reads(true);
}

}  // namespace pgep
