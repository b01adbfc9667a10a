#include "supervisor/dead_letters.h"

#include <algorithm>

#include "shared/log.h"

namespace pgep {

namespace {

constexpr const char* kInsert =
    "INSERT INTO events.dead_letters (bridge, message_id, channel, routing_key, body, error) "
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
constexpr const char* kUndefinedTable = "42P01";

std::string header(const ipc::Publish& message, const char* key) {
  auto found = message.headers.find(key);
  return found == message.headers.end() ? std::string() : found->second;
}

}  // namespace

DeadLetters::DeadLetters(uv_loop_t* loop, std::string uri, Listener& listener)
    : listener_(listener), session_(loop, "dead letters", std::move(uri), /*replication=*/false, *this) {
  // It is ready once a letter is written, so that a table that is missing makes the retries
  // back off; its INSERT, not a handshake, is what it waits for.
  session_.no_handshake_deadline();
}

void DeadLetters::add(const Ledger& ledger, const std::string& bridge, ipc::Publish&& message,
                      const std::string& error) {
  log_warn("bridge " + bridge + ": message " + message.message_id + " can never be delivered (" + error +
           "); writing it to events.dead_letters");
  letters_.push_back(Letter{&ledger, bridge, std::move(message), error});
  if (!started_) {
    started_ = true;
    return session_.start();  // the first letter goes when the session opens
  }
  if (session_.conn() && !writing_) write_next();
}

bool DeadLetters::refers_to(const Ledger& ledger) const {
  return std::any_of(letters_.begin(), letters_.end(), [&](const Letter& l) { return l.ledger == &ledger; });
}

void DeadLetters::on_session_open() {
  writing_ = false;
  write_next();
}

void DeadLetters::write_next() {
  if (letters_.empty() || writing_) return;
  const Letter& letter = letters_.front();
  std::string channel = header(letter.message, "pg_channel");
  const char* values[] = {letter.bridge.c_str(),           letter.message.message_id.c_str(), channel.c_str(),
                          letter.message.routing_key.c_str(), letter.message.body.c_str(),     letter.error.c_str()};
  writing_ = true;
  session_.connection().send_query_params(kInsert, values);
}

void DeadLetters::on_session_input() {
  while (writing_) {
    PgConnection::ResultPtr result{nullptr, &PQclear};
    if (session_.connection().take_answer(result) != PgConnection::Answer::Done) return;
    on_written(result.get());
  }
}

void DeadLetters::on_written(PGresult* result) {
  writing_ = false;
  Letter& letter = letters_.front();
  if (!result || PQresultStatus(result) != PGRES_TUPLES_OK) {
    std::string why = "cannot write message " + letter.message.message_id + " to events.dead_letters: " +
                      pg_result_error(result);
    if (pg_sqlstate(result) == kUndefinedTable) why += " (create it: run postgres/1_events.sql)";
    return session_.fail(why);
  }
  session_.ready();
  log_warn("bridge " + letter.bridge + ": message " + letter.message.message_id + " is dead letter " +
           PQgetvalue(result, 0, 0) + " in events.dead_letters; the events after it go on");
  Letter written = std::move(letter);
  letters_.pop_front();
  listener_.on_dead_letter_written(*written.ledger, written.message.seq);
  write_next();
}

void DeadLetters::on_session_lost(bool) { writing_ = false; }

std::string DeadLetters::while_down() const {
  return std::to_string(letters_.size()) + " dead letter(s) wait, and their bridges' events with them";
}

}  // namespace pgep
