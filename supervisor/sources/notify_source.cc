#include "supervisor/sources/notify_source.h"

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
  PGconn* conn = session_.conn();
  std::string sql;
  for (const std::string& channel : channels_) {
    std::unique_ptr<char, decltype(&PQfreemem)> quoted(
        PQescapeIdentifier(conn, channel.data(), channel.size()), &PQfreemem);
    if (!quoted) return session_.fail(session_.connection().error());
    sql += "LISTEN " + std::string(quoted.get()) + ";";
  }
  session_.connection().send_query(sql);
}

void NotifySource::on_session_input() {
  if (!session_.is_ready()) return read_listen_results();
  deliver();
}

void NotifySource::read_listen_results() {
  PGconn* conn = session_.conn();
  while (!PQisBusy(conn)) {
    PGresult* result = PQgetResult(conn);
    if (!result) {
      session_.ready();
      log_info("listening on " + std::to_string(channels_.size()) + " NOTIFY channel(s) at " + mask_uri_password(uri_));
      listener_.on_notify_ready(true);
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
