#include "supervisor/sources/wal_state_table.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "shared/log.h"
#include "shared/lsn.h"
#include "supervisor/sources/wal_state_file.h"

namespace pgep {

namespace {

// A command unanswered for this long means a connection that died without a word: it is
// dropped and made again (save() is called at every status tick, so it is the clock).
constexpr uint64_t kAnswerWithinMs = 30000;
constexpr uint64_t kWalSegmentBytes = 16 << 20;  // PostgreSQL's default wal_segment_size
// A write PostgreSQL refused (a privilege, a full disk) is tried again this often, not at every tick.
constexpr uint64_t kRetryRefusedMs = 10000;

// $4 is the state file's text, which names the identity too; $5 its confirmed position. A write
// never takes the row back: one that arrives late, after another pgep of the pair wrote a newer
// position (it was sent before its pgep stood down, and held up in the network), changes nothing.
constexpr const char* kUpsert =
    " AS kept (system_id, database, slot, state, confirmed_lsn) VALUES ($1, $2, $3, $4, $5::pg_lsn) "
    "ON CONFLICT (system_id, database, slot) DO UPDATE SET state = EXCLUDED.state, "
    "confirmed_lsn = EXCLUDED.confirmed_lsn, updated_at = now() WHERE kept.confirmed_lsn <= EXCLUDED.confirmed_lsn";

// The names and values here are checked (a table name, digits, lower-case names) or escaped.
std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// PostgreSQL's message without its "ERROR:" and the statement's excerpt: it goes into a sentence.
std::string primary_message(const PGresult* result) {
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return primary ? primary : pg_result_error(result);
}

// CREATE TABLE IF NOT EXISTS racing another session's: one of them fails on the catalog's unique
// index, though the table is there.
bool made_meanwhile(const PGresult* result) {
  std::string code = pg_sqlstate(result);
  return code == "23505" || code == "42P07";
}

}  // namespace

WalStateTable::WalStateTable(uv_loop_t* loop, std::string uri, std::string table)
    : loop_(loop),
      session_(loop, "state table", std::move(uri), /*replication=*/false, *this),
      table_(std::move(table)) {}

std::string WalStateTable::create_statement() const {
  return "CREATE TABLE IF NOT EXISTS " + table_ +
         " (system_id text NOT NULL, database text NOT NULL, slot text NOT NULL, state text NOT NULL, "
         "confirmed_lsn pg_lsn NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
         "PRIMARY KEY (system_id, database, slot))";
}

std::string WalStateTable::how_to_forget() const {
  return "delete its row: DELETE FROM " + table_ + " WHERE system_id = " + quoted(identity_.system_id) +
         " AND database = " + quoted(identity_.database) + " AND slot = " + quoted(identity_.slot);
}

void WalStateTable::open(const SlotIdentity& identity, uint32_t timeline, Opened done) {
  identity_ = identity;
  timeline_ = timeline;
  opened_ = std::move(done);
  if (!unusable_.empty()) return answer_open({SlotStateStore::Read::Outcome::Unusable, 0, unusable_, ""});
  next();
}

uint64_t WalStateTable::save(uint64_t lsn, const std::map<std::string, WalPosition>& bridges) {
  wanted_ = {std::max(lsn, stored_.lsn), bridges};
  if (step_ != Step::Idle && uv_now(loop_) - sent_ms_ > kAnswerWithinMs) {
    session_.fail("no answer from PostgreSQL for " + std::to_string(kAnswerWithinMs / 1000) + " s");
  }
  next();
  if (!error_.empty()) return lsn;  // refused: said by the caller, and not holding the slot back
  return std::min(lsn, stored_.lsn);
}

void WalStateTable::on_session_open() {
  send(Step::Checking, "SELECT to_regclass(" + quoted(table_) + ") IS NOT NULL");
}

void WalStateTable::send(Step step, const std::string& sql) {
  step_ = step;
  sent_ms_ = uv_now(loop_);
  session_.connection().send_query(sql);  // a failure comes back through on_session_lost
}

// One command at a time: the read an open() waits for, else the newest position to keep.
void WalStateTable::next() {
  if (step_ != Step::Idle || !session_.is_ready()) return;
  std::array<const char*, 3> key = {identity_.system_id.c_str(), identity_.database.c_str(), identity_.slot.c_str()};
  if (opened_) {
    step_ = Step::Reading;
    sent_ms_ = uv_now(loop_);
    std::string sql = "SELECT state FROM " + table_ + " WHERE system_id = $1 AND database = $2 AND slot = $3";
    session_.connection().send_query_params(sql.c_str(), key);
    return;
  }
  if (!worth_writing()) return;
  writing_ = wanted_;
  std::string text = format_slot_state(SlotState{identity_, timeline_, writing_.lsn, writing_.bridges});
  std::string confirmed = format_lsn(writing_.lsn);
  std::array<const char*, 5> values = {key[0], key[1], key[2], text.c_str(), confirmed.c_str()};
  step_ = Step::Writing;
  sent_ms_ = uv_now(loop_);
  std::string sql = "INSERT INTO " + table_ + kUpsert;
  session_.connection().send_query_params(sql.c_str(), values);
}

// Every write of the row makes WAL of its own, which moves the position an idle slot may confirm,
// which would call for another write: writing for each such move would never stop. So the row is
// written when a bridge acknowledged something, or when the position moved a WAL segment: WAL is
// kept by segments, so confirming less than one segment behind keeps no more of it.
bool WalStateTable::worth_writing() const {
  if (identity_.slot.empty() || wanted_ == stored_) return false;
  if (!error_.empty() && uv_now(loop_) - sent_ms_ < kRetryRefusedMs) return false;
  return stored_.lsn == 0 || wanted_.bridges != stored_.bridges || wanted_.lsn - stored_.lsn >= kWalSegmentBytes;
}

void WalStateTable::on_session_input() {
  PgConnection::ResultPtr result{nullptr, &PQclear};
  if (step_ == Step::Idle || session_.connection().take_answer(result) != PgConnection::Answer::Done) return;
  ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  std::string error = ok ? "" : primary_message(result.get());
  Step step = std::exchange(step_, Step::Idle);
  switch (step) {
    case Step::Checking:
      if (!ok) return session_.fail("cannot look for the state table " + table_ + ": " + error);
      return on_checked(PQntuples(result.get()) == 1 && std::string(PQgetvalue(result.get(), 0, 0)) == "t");
    case Step::Creating:
      if (!ok && made_meanwhile(result.get())) return on_checked(true);
      if (!ok) {
        unusable_ = "the state table " + table_ + " does not exist and cannot be created (" + error +
                    "); create it as a role that may: " + create_statement();
        if (opened_) answer_open({SlotStateStore::Read::Outcome::Unusable, 0, unusable_, ""});
        return;
      }
      log_info("created the state table " + table_);
      return on_checked(true);
    case Step::Reading:
      if (!ok) {
        return answer_open({SlotStateStore::Read::Outcome::Error, 0,
                            "the state table " + table_ + " cannot be read: " + error, ""});
      }
      return on_read(result.get());
    case Step::Writing:
      if (ok) {
        stored_ = writing_;
        error_.clear();
      } else {
        error_ = "the state table " + table_ + " refused the write: " + error;
      }
      return next();
    case Step::Idle:
      return;
  }
}

void WalStateTable::on_checked(bool exists) {
  if (!exists) return send(Step::Creating, create_statement());
  unusable_.clear();
  session_.ready();
  next();
}

void WalStateTable::on_read(PGresult* result) {
  Read read;
  if (PQntuples(result) == 0) return answer_open(read);
  std::string problem;
  std::optional<SlotState> state = parse_slot_state(PQgetvalue(result, 0, 0), problem);
  if (!state || !(state->identity == identity_)) {
    read.outcome = Read::Outcome::Error;
    read.error = "the row of " + identity_.describe() + " in the state table " + table_ + " is not whole: " +
                 (state ? "its state names " + state->identity.describe() : problem);
    return answer_open(read);
  }
  stored_ = wanted_ = {state->confirmed_lsn, state->bridges};
  read.outcome = Read::Outcome::Found;
  read.confirmed_lsn = state->confirmed_lsn;
  answer_open(read);
}

void WalStateTable::answer_open(Read read) {
  Opened done = std::exchange(opened_, nullptr);
  if (done) done(read);
}

// A write under way is not known to be kept: the row holds what was last answered.
void WalStateTable::on_session_lost(bool) { step_ = Step::Idle; }

std::string WalStateTable::while_down() const { return "pgep confirms no newer WAL position until it is back"; }

}  // namespace pgep
