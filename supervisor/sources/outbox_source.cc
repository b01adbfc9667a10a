#include "supervisor/outbox_source.h"

#include <algorithm>
#include <cstdlib>

#include "shared/log.h"

namespace pgep {

namespace {

// The wake-up channel of postgres/1_events.sql (events.wake_channel()).
constexpr const char* kWakeChannel = "pg_event_proxy_outbox";
// Rows read per query: a drain never reads much more than a full ledger.
constexpr int kBatchRows = 500;


}  // namespace

OutboxSource::OutboxSource(uv_loop_t* loop, std::string uri, Listener& listener)
    : loop_(loop),
      uri_(std::move(uri)),
      listener_(listener),
      connection_(loop, {[this] { send(std::string("LISTEN ") + kWakeChannel, State::Listening); },
                         [this](int status, int events) { on_socket(status, events); },
                         [this](const std::string& reason) { fail(reason); }}),
      retry_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  retry_timer_.get()->data = this;
}

OutboxSource::~OutboxSource() = default;

void OutboxSource::start() { connect(); }

void OutboxSource::connect() {
  state_ = State::Connecting;
  connection_.connect(uri_, /*replication=*/false);
}

void OutboxSource::send(const std::string& sql, State next_state) {
  state_ = next_state;
  connection_.send_query(sql);
}

void OutboxSource::on_socket(int status, int) {
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (!PQconsumeInput(connection_.get())) return fail(connection_.error());
  read_wakeups();
  read_results();
}

void OutboxSource::read_wakeups() {
  while (PGnotify* notify = PQnotifies(connection_.get())) {
    PQfreemem(notify);
    if (state_ == State::Selecting) {
      drain_again_ = true;
    } else {
      drain_requested_ = true;
    }
  }
  next();
}

void OutboxSource::read_results() {
  // A finished command may send the next one, whose answer can already be complete.
  while (connection_.get() && state_ != State::Ready && state_ != State::Waiting) {
    PgConnection::ResultPtr result{nullptr, &PQclear};
    if (connection_.take_answer(result) != PgConnection::Answer::Done) return;
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
    return fail(error);
  }
  State finished = state_;
  state_ = State::Ready;
  if (finished == State::Listening) {
    backoff_.reset();
    last_error_.clear();
    log_info("outbox: draining events.events now and on every wake-up");
    drain_requested_ = true;
    cursor_ = 0;
  } else if (finished == State::Selecting) {
    on_rows(result);
  }
  next();
}

void OutboxSource::on_rows(PGresult* result) {
  int rows = PQntuples(result);
  for (int i = 0; i < rows; ++i) {
    int64_t id = std::strtoll(PQgetvalue(result, i, 0), nullptr, 10);
    cursor_ = std::max(cursor_, id);
    if (!known_.insert(id).second) continue;  // routed already, not yet deleted
    std::string_view channel(PQgetvalue(result, i, 1), static_cast<size_t>(PQgetlength(result, i, 1)));
    std::string_view payload(PQgetvalue(result, i, 2), static_cast<size_t>(PQgetlength(result, i, 2)));
    Routed routed = listener_.on_outbox_row(id, channel, payload);
    if (routed.empty()) {
      to_delete_.push_back(id);  // no bridge reads its channel
    } else {
      in_flight_.push_back({id, std::move(routed)});
    }
  }
  if (rows < kBatchRows) {  // the table is drained; a wake-up meanwhile starts another pass
    drain_requested_ = drain_again_;
    drain_again_ = false;
    cursor_ = 0;
  }
}

void OutboxSource::on_acknowledged() {
  while (!in_flight_.empty()) {
    const Row& row = in_flight_.front();
    bool done = std::all_of(row.routed.begin(), row.routed.end(),
                            [](const auto& entry) { return entry.first->last_acknowledged() >= entry.second; });
    if (!done) break;
    to_delete_.push_back(row.id);
    in_flight_.pop_front();
  }
  next();
}

// One command at a time: deletions first (they free the table), then the next batch.
void OutboxSource::next() {
  if (state_ != State::Ready) return;
  if (!to_delete_.empty()) {
    std::string ids;
    for (int64_t id : to_delete_) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    for (int64_t id : to_delete_) known_.erase(id);
    to_delete_.clear();
    return send("DELETE FROM events.events WHERE id = ANY('{" + ids + "}'::bigint[])", State::Deleting);
  }
  if (drain_requested_ && !paused_) {
    send("SELECT id, channel, message FROM events.events WHERE id > " + std::to_string(cursor_) +
             " ORDER BY id LIMIT " + std::to_string(kBatchRows),
         State::Selecting);
  }
}

void OutboxSource::pause() { paused_ = true; }

void OutboxSource::resume() {
  if (!paused_) return;
  paused_ = false;
  drain_requested_ = true;
  next();
}

void OutboxSource::fail(const std::string& reason) {
  bool was_ready = state_ != State::Connecting && state_ != State::Waiting && state_ != State::Idle;
  connection_.close();
  state_ = State::Waiting;
  if (was_ready || reason != last_error_) {
    log_warn("outbox connection " + std::string(was_ready ? "lost" : "failed") + ": " + reason +
             "; retrying with backoff (the rows wait in events.events)");
  }
  last_error_ = reason;
  uv_timer_start(retry_timer_.get(), [](uv_timer_t* t) { static_cast<OutboxSource*>(t->data)->connect(); },
                 backoff_.next(), 0);
}

}  // namespace pgep
