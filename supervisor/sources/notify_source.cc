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
      session_(loop, "NOTIFY", std::move(uri), /*replication=*/false, *this) {}

void NotifySource::on_session_open() {
  listened_.clear();  // a new session listens to nothing yet
  changing_ = false;
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
  if (session_.is_ready() && !changing_) send_changes();
}

void NotifySource::send_changes() {
  std::string sql;
  if (!listen_commands(channels_, sql)) return session_.fail(session_.connection().error());
  if (sql.empty()) return;
  changing_ = true;
  log_info("NOTIFY: " + sql);
  session_.connection().send_query(sql);
}

void NotifySource::on_session_input() {
  if (!session_.is_ready()) return read_listen_results();
  if (changing_) read_change_results();
  deliver();
}

// The answer to a reload's LISTEN/UNLISTEN; another change asked for meanwhile goes next.
void NotifySource::read_change_results() {
  PgConnection::ResultPtr result{nullptr, &PQclear};
  if (session_.connection().take_answer(result) != PgConnection::Answer::Done) return;
  if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    return session_.fail("LISTEN failed: " + pg_result_error(result.get()));
  }
  changing_ = false;
  if (listened_ != channels_) send_changes();
}

void NotifySource::read_listen_results() {
  PGconn* conn = session_.conn();
  while (!PQisBusy(conn)) {
    PGresult* result = PQgetResult(conn);
    if (!result) {
      session_.ready();
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
