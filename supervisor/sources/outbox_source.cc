#include "supervisor/sources/outbox_source.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "shared/log.h"
#include "supervisor/sources/event_ids.h"

namespace pgep {

namespace {

// The wake-up channel of postgres/1_events.sql (events.wake_channel()).
constexpr const char* kWakeChannel = "pg_event_proxy_outbox";
// Rows read per query: a drain never reads much more than a full ledger.
constexpr int kBatchRows = 500;

}  // namespace

OutboxSource::OutboxSource(uv_loop_t* loop, std::string uri, Listener& listener)
    : listener_(listener), session_(loop, "outbox", std::move(uri), /*replication=*/false, *this) {}

void OutboxSource::on_session_open() { send(std::string("LISTEN ") + kWakeChannel, Command::Listen); }

void OutboxSource::send(const std::string& sql, Command command) {
  command_ = command;
  session_.connection().send_query(sql);
}

void OutboxSource::on_session_input() {
  read_wakeups();
  read_results();
}

void OutboxSource::on_session_lost(bool) { command_ = Command::None; }

void OutboxSource::read_wakeups() {
  while (PGnotify* notify = PQnotifies(session_.conn())) {
    PQfreemem(notify);
    if (command_ == Command::Select) {
      drain_again_ = true;
    } else {
      drain_requested_ = true;
    }
  }
  next();
}

void OutboxSource::read_results() {
  // A finished command may send the next one, whose answer can already be complete.
  while (command_ != Command::None) {
    PgConnection::ResultPtr result{nullptr, &PQclear};
    if (session_.connection().take_answer(result) != PgConnection::Answer::Done) return;
    on_result(result.get());
  }
}

void OutboxSource::on_result(PGresult* result) {
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string error = pg_result_error(result);
    if (error.find("events.events") != std::string::npos && error.find("does not exist") != std::string::npos) {
      error += " (load postgres/1_events.sql into the database for durable messages)";
    }
    return session_.fail(error);
  }
  Command finished = std::exchange(command_, Command::None);
  if (finished == Command::Listen) {
    // Which cluster and database this is goes into every row's id.
    return send("SELECT system_identifier::text, current_database() FROM pg_control_system()", Command::Identify);
  }
  if (finished == Command::Identify) {
    on_identified(result);
    session_.ready();
    log_info("outbox: draining events.events now and on every wake-up");
    drain_requested_ = true;
    cursor_ = 0;
  } else if (finished == Command::Select) {
    on_rows(result);
  }
  next();
}

void OutboxSource::on_identified(PGresult* result) {
  id_prefix_ = event_id_prefix(PQgetvalue(result, 0, 0), PQgetvalue(result, 0, 1));
}

void OutboxSource::on_rows(PGresult* result) {
  int rows = PQntuples(result);
  for (int i = 0; i < rows; ++i) {
    int64_t id = std::strtoll(PQgetvalue(result, i, 0), nullptr, 10);
    cursor_ = std::max(cursor_, id);
    if (!tracker_.is_new(id)) continue;  // routed already, not yet deleted
    std::string_view channel(PQgetvalue(result, i, 1), static_cast<size_t>(PQgetlength(result, i, 1)));
    std::string_view payload(PQgetvalue(result, i, 2), static_cast<size_t>(PQgetlength(result, i, 2)));
    tracker_.routed(id, listener_.on_outbox_row(outbox_event_id(id_prefix_, id), channel, payload));
  }
  if (rows < kBatchRows) {  // the table is drained; a wake-up meanwhile starts another pass
    drain_requested_ = drain_again_;
    drain_again_ = false;
    cursor_ = 0;
  }
}

void OutboxSource::on_acknowledged() {
  tracker_.advance();
  next();
}

// One command at a time: deletions first (they free the table), then the next batch.
void OutboxSource::next() {
  if (!session_.is_ready() || command_ != Command::None) return;
  if (tracker_.has_deletions()) {
    std::string ids;
    for (int64_t id : tracker_.take_deletions()) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    return send("DELETE FROM events.events WHERE id = ANY('{" + ids + "}'::bigint[])", Command::Delete);
  }
  if (drain_requested_ && !paused_) {
    send("SELECT id, channel, message FROM events.events WHERE id > " + std::to_string(cursor_) +
             " ORDER BY id LIMIT " + std::to_string(kBatchRows),
         Command::Select);
  }
}

void OutboxSource::pause() { paused_ = true; }

void OutboxSource::resume() {
  if (!paused_) return;
  paused_ = false;
  drain_requested_ = true;
  next();
}

}  // namespace pgep
