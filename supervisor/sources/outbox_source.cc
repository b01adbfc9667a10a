#include "supervisor/sources/outbox_source.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>

#include "shared/log.h"
#include "supervisor/sources/event_ids.h"

namespace pgep {

namespace {

// The wake-up channel of postgres/1_events.sql (events.wake_channel()).
constexpr const char* kWakeChannel = "pg_event_proxy_outbox";
// Rows read per query: a drain never reads much more than a full ledger.
constexpr int kBatchRows = 500;
constexpr uint64_t kBatchBytes = 8u << 20;
// A SELECT or DELETE unanswered this long fails the session (it may wait on a lock; kPingMs
// is for the idle ping).
constexpr uint64_t kCommandMs = 60000;

}  // namespace

OutboxSource::OutboxSource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener)
    : listener_(listener),
      session_(loop, "outbox", std::move(uri), /*replication=*/false, *this),
      channels_(std::move(channels)),
      delete_retry_(loop, Backoff(1000, 60000), [this] { next(); }),
      ping_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  ping_timer_.get()->data = this;
}

void OutboxSource::on_ping_tick() {
  uint64_t now = uv_now(ping_timer_.get()->loop);
  // A ping is answered at once; a SELECT or DELETE may wait on a lock, so it gets longer.
  uint64_t limit = command_ == Command::Ping ? kPingMs : kCommandMs;
  if (command_ != Command::None && now - command_sent_ms_ >= limit) {
    return session_.fail("no answer from PostgreSQL for " + std::to_string(limit / 1000) + " s");
  }
  if (command_ == Command::None) send("SELECT 1", Command::Ping);
}

void OutboxSource::set_channels(std::vector<std::string> channels) {
  if (channels == channels_) return;
  channels_ = std::move(channels);
  count_unrouted_ = true;
  drain_again_ = true;  // rows of a channel just added may be waiting
  next();
}

void OutboxSource::on_session_open() { send(std::string("LISTEN ") + kWakeChannel, Command::Listen); }

void OutboxSource::send(const std::string& sql, Command command) {
  command_ = command;
  command_sent_ms_ = uv_now(ping_timer_.get()->loop);
  session_.connection().send_query(sql);
}

void OutboxSource::on_session_input() {
  read_wakeups();
  read_results();
}

void OutboxSource::on_session_lost(bool) {
  uv_timer_stop(ping_timer_.get());
  if (command_ == Command::Delete) tracker_.deletion_done(false);  // sent again on the next session
  command_ = Command::None;
}

void OutboxSource::read_wakeups() {
  while (PGnotify* notify = PQnotifies(session_.conn())) {
    PQfreemem(notify);
    log_debug("outbox: wake-up" + std::string(cursor_ > 0 ? " during a pass" : ""));
    // A row that commits now may have an id below where this pass is: only a new pass from
    // the start reads it.
    if (command_ == Command::Select || cursor_ > 0) {
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
  Command finished = std::exchange(command_, Command::None);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return on_command_failed(finished, result);
  switch (finished) {
    case Command::Listen:
      // Which cluster and database this is goes into every row's id.
      return send("SELECT system_identifier::text, current_database() FROM pg_control_system()", Command::Identify);
    case Command::Identify:
      on_identified(result);
      session_.ready();
      uv_timer_start(ping_timer_.get(), [](uv_timer_t* t) { static_cast<OutboxSource*>(t->data)->on_ping_tick(); },
                     kPingMs, kPingMs);
      log_info("outbox: draining events.events now and on every wake-up");
      drain_requested_ = true;
      count_unrouted_ = true;
      cursor_ = 0;
      break;
    case Command::CountUnrouted:
      on_unrouted(result);
      break;
    case Command::Select:
      on_rows(result);
      break;
    case Command::Delete:
      tracker_.deletion_done(true);
      delete_retry_.succeeded();
      break;
    case Command::Ping:
    case Command::None:
      break;
  }
  next();
}

void OutboxSource::on_command_failed(Command failed, PGresult* result) {
  std::string error = pg_result_error(result);
  bool session_up = session_.conn() && PQstatus(session_.conn()) == CONNECTION_OK;
  if (failed != Command::Delete || !result || !session_up) {
    if (error.find("events.events") != std::string::npos && error.find("does not exist") != std::string::npos) {
      error += " (load postgres/1_events.sql into the database for durable messages)";
    }
    if (failed == Command::Delete) tracker_.deletion_done(false);
    return session_.fail(error);
  }
  // The rows were delivered: they are deleted again later, never published again.
  tracker_.deletion_done(false);
  std::string code = pg_sqlstate(result);
  std::string hint;
  if (code == "42501") hint = " (pgep's role needs SELECT and DELETE on events.events: GRANT SELECT, DELETE ON events.events TO it)";
  if (code == "25006") hint = " (pgep's session is read-only: default_transaction_read_only, or a standby)";
  if (delete_retry_.failed(error, /*was_up=*/true)) {
    log_error("outbox: cannot delete delivered rows from events.events: " + error + hint +
              "; they are not sent again, and the DELETE is tried again in " + std::to_string(delete_retry_.delay_ms()) +
              " ms");
  }
}

void OutboxSource::on_identified(PGresult* result) {
  id_prefix_ = event_id_prefix(PQgetvalue(result, 0, 0), PQgetvalue(result, 0, 1));
}

void OutboxSource::on_unrouted(PGresult* result) {
  for (int i = 0; i < PQntuples(result); ++i) {
    std::string channel = PQgetvalue(result, i, 0);
    if (!unrouted_logged_.insert(channel).second) continue;
    log_warn("outbox: " + std::string(PQgetvalue(result, i, 1)) + " durable row(s) on the channel \"" + channel +
             "\" stay in events.events: no bridge of this pgep reads that channel");
  }
}

std::string OutboxSource::channel_list() const {
  std::string list;
  for (const std::string& channel : channels_) {
    std::unique_ptr<char, decltype(&PQfreemem)> quoted(
        PQescapeLiteral(session_.conn(), channel.data(), channel.size()), &PQfreemem);
    if (quoted) list += (list.empty() ? "" : ",") + std::string(quoted.get());
  }
  return "channel IN (" + (list.empty() ? std::string("NULL") : list) + ")";
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
  int taken = rows > 0 ? std::atoi(PQgetvalue(result, 0, 3)) : 0;
  if (rows == taken && taken < kBatchRows) {  // the table is drained; a wake-up meanwhile starts another pass
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
  if (tracker_.has_deletions() && !delete_retry_.scheduled()) {
    std::string ids;
    for (int64_t id : tracker_.take_deletions()) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    return send("DELETE FROM events.events WHERE id = ANY('{" + ids + "}'::bigint[])", Command::Delete);
  }
  if (count_unrouted_) {
    count_unrouted_ = false;
    return send("SELECT channel, count(*) FROM events.events WHERE NOT " + channel_list() + " GROUP BY channel",
                Command::CountUnrouted);
  }
  if (!drain_requested_ && drain_again_ && cursor_ == 0) {
    drain_requested_ = true;
    drain_again_ = false;
  }
  if (drain_requested_ && !paused_) {
    // At most kBatchRows rows, and of those only as many as fit in kBatchBytes (the first one
    // always): a batch of large messages is not one huge result. `taken` says how many rows the
    // LIMIT took, so a batch cut by bytes is not mistaken for the end of the table.
    send("SELECT id, channel, message, taken FROM (SELECT id, channel, message, count(*) OVER () AS taken, "
         "sum(octet_length(message)) OVER (ORDER BY id) - octet_length(message) AS before FROM "
         "(SELECT id, channel, message FROM events.events WHERE id > " + std::to_string(cursor_) + " AND " +
             channel_list() + (guard_.empty() ? "" : " AND " + guard_) + " ORDER BY id LIMIT " +
             std::to_string(kBatchRows) + ") rows) batch WHERE before < " +
             std::to_string(kBatchBytes) + " ORDER BY id",
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
