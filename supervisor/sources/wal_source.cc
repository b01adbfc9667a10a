#include "supervisor/sources/wal_source.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>

#include "shared/log.h"
#include "shared/lsn.h"
#include "shared/pgoutput_body_options.h"
#include "shared/wal2json_params.h"

namespace pgep {

namespace {

// A status update at least this often, so the walsender never times out (default 60 s).
constexpr uint64_t kStatusIntervalMs = 10000;
// How often the timer looks whether the flush position moved.
constexpr uint64_t kStatusTickMs = 200;
// The periodic status update asks the walsender for an answer; a stream from which nothing at
// all came for this long (while pgep reads it) is half-open: a frozen peer, a lost route.
constexpr uint64_t kSilenceMs = 25000;

uint64_t now_ms() { return uv_hrtime() / 1000000; }

}  // namespace

WalSource::WalSource(uv_loop_t* loop, const DatabaseSettings& database, std::unique_ptr<SlotStateStore> state, Listener& listener)
    : slot_(database.replication_slot),
      plugin_(database.output_plugin),
      plugin_name_(plugin_ == OutputPlugin::Pgoutput ? "pgoutput" : "wal2json"),
      publication_(database.publication),
      params_(format_wal2json_params(without_own_tables(database.wal2json_params))),
      format_version_(wal2json_format_version(database.wal2json_params)),
      listener_(listener),
      session_(loop, "WAL replication", database.uri, /*replication=*/true, *this),
      state_store_(std::move(state)),
      status_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  status_timer_.get()->data = this;
  if (plugin_ == OutputPlugin::Pgoutput) {
    std::string ignored;  // the configuration was checked: these options are pgoutput's
    pgoutput_ = std::make_unique<PgoutputDecoder>(
        pgoutput_body_options(without_own_tables(database.wal2json_params), ignored).value_or(PgoutputBodyOptions{}));
  }
}

// Which cluster and database this is decides which state file is ours.
void WalSource::on_session_open() { send("IDENTIFY_SYSTEM", State::Identifying); }

void WalSource::on_identified(PGresult* result) {
  if (PQntuples(result) != 1 || PQnfields(result) < 4) return session_.fail("IDENTIFY_SYSTEM answered no row");
  SlotIdentity identity{PQgetvalue(result, 0, 0), PQgetvalue(result, 0, 3), slot_};
  uint32_t timeline = static_cast<uint32_t>(std::strtoul(PQgetvalue(result, 0, 1), nullptr, 10));
  ids_.set_prefix(event_id_prefix(identity.system_id, identity.database));
  state_ = State::ReadingState;  // a file answers at once, a table when its session does
  state_store_->open(identity, timeline, [this](const SlotStateStore::Read& read) {
    if (state_ == State::ReadingState) on_state_read(read);
  });
}

void WalSource::on_state_read(const SlotStateStore::Read& read) {
  if (read.outcome == SlotStateStore::Read::Outcome::Unusable) return fatal(read.error);
  if (read.outcome == SlotStateStore::Read::Outcome::Error) {
    return fatal(read.error + ". pgep cannot tell whether the slot " + slot_ +
                 " is the one it used; repair it, or " + state_store_->how_to_forget() + " to start afresh on purpose");
  }
  remembered_.reset();
  if (read.outcome == SlotStateStore::Read::Outcome::Found) remembered_ = read.confirmed_lsn;
  if (!read.migrated_from.empty()) {
    log_info("the state file " + read.migrated_from + " (first format) was rewritten as " + state_store_->where());
  }
  if (!pgoutput_) return check_slot();
  pgoutput_->reset();  // a new connection: pgoutput describes its relations again
  // The publication comes before the slot: pgoutput reads it as of each transaction it decodes,
  // so a slot older than its publication fails on the transactions in between.
  // Names are checked by the configuration: lower-case letters, digits and _.
  send("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = '" + publication_ + "'", State::CheckingPublication);
}

void WalSource::on_publication_checked(PGresult* result) {
  if (PQntuples(result) > 0) return read_types_or_check_slot();
  log_info("creating the publication " + publication_ + " FOR ALL TABLES (output_plugin = pgoutput)");
  send("CREATE PUBLICATION " + publication_ + " FOR ALL TABLES", State::CreatingPublication);
}

// Type names are read once per connection, when the bodies name types ("include-types").
void WalSource::read_types_or_check_slot() {
  if (!pgoutput_->needs_types()) return check_slot();
  send(PgTypeNames::catalog_query(), State::ReadingTypes);
}

void WalSource::on_types_read(PGresult* result) {
  for (int row = 0; row < PQntuples(result); ++row) {
    auto number = [&](int column) { return std::strtoll(PQgetvalue(result, row, column), nullptr, 10); };
    PgTypeInfo info{PQgetvalue(result, row, 1), static_cast<uint32_t>(number(2)), static_cast<uint32_t>(number(3)),
                    static_cast<int32_t>(number(4))};
    pgoutput_->types().add_from_catalog(static_cast<uint32_t>(number(0)), std::move(info));
  }
  check_slot();
}

void WalSource::check_slot() {
  send("SELECT plugin, confirmed_flush_lsn, wal_status, restart_lsn FROM pg_replication_slots WHERE slot_name = '" +
           slot_ + "'",
       State::CheckingSlot);
}

void WalSource::send(const std::string& sql, State next) {
  state_ = next;
  session_.connection().send_query(sql);
}

// Paused, pgep reads nothing more of the stream; PostgreSQL keeps the WAL meanwhile.
void WalSource::update_watch() { session_.connection().watch_reads(!paused_ || state_ != State::Streaming); }

void WalSource::on_session_input() {
  if (state_ == State::Streaming) return read_stream();
  read_results();
}

void WalSource::on_session_lost(bool was_streaming) {
  uv_timer_stop(status_timer_.get());
  state_ = State::Down;
  if (was_streaming) listener_.on_wal_ready(false);
}

std::string WalSource::while_down() const {
  return "PostgreSQL resends from the last confirmed position " + format_lsn(tracker_.flush_lsn());
}

// A command's results are read to the end before the next command is sent.
void WalSource::read_results() {
  PgConnection::ResultPtr result{nullptr, &PQclear};
  switch (session_.connection().take_answer(result)) {
    case PgConnection::Answer::Pending:
      return;
    case PgConnection::Answer::CopyBoth:
      return on_streaming();
    case PgConnection::Answer::Done:
      return on_result(result.get());
  }
}

void WalSource::on_result(PGresult* result) {
  ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return on_command_failed(result);
  switch (state_) {
    case State::Identifying:
      return on_identified(result);
    case State::CheckingPublication:
      return on_publication_checked(result);
    case State::CreatingPublication:
      return read_types_or_check_slot();
    case State::ReadingTypes:
      return on_types_read(result);
    case State::CheckingSlot:
      return on_slot_checked(result);
    case State::CreatingSlot:
      return on_slot_created(result);
    default:
      return session_.fail("unexpected result while starting replication");
  }
}

// Which failures retrying mends: most do, these three do not or need a word of explanation.
// Told apart by SQLSTATE, not by the message's words, which follow the server's lc_messages.
void WalSource::on_command_failed(PGresult* result) {
  std::string error = pg_result_error(result);
  std::string code = pg_sqlstate(result);
  // The 2026 releases' refusal of a library outside output_plugin_libraries: its SQLSTATE is
  // not documented, so its words are the fallback.
  if (error.find("may not be used as an output plugin") != std::string::npos) {
    return fatal(error + " (PostgreSQL 15.19 and later allow only the plugins of output_plugin_libraries: add " +
                 plugin_name_ + " to that setting and reload the server, or set output_plugin = pgoutput, which every "
                 "server allows)");
  }
  if (state_ == State::CreatingPublication) {
    return fatal("cannot create the publication " + publication_ + " that output_plugin = pgoutput reads: " + error +
                 ". Create it as a role that may (a superuser, for FOR ALL TABLES): CREATE PUBLICATION " +
                 publication_ + " FOR ALL TABLES; or FOR TABLE with the tables pgep should read; or set publication "
                 "to one that exists");
  }
  if (state_ == State::Starting && code == "55006") {  // object_in_use: the slot is active
    return session_.fail(error + " (a previous pgep's walsender still holds it)");  // retried: it goes away
  }
  if (state_ == State::Starting && code == "22023") {  // invalid_parameter_value, from the plugin
    return fatal(pgoutput_ ? "pgoutput refused its options (proto_version, publication_names, messages): " + error
                           : "wal2json refused wal2json_params: " + error);
  }
  session_.fail(error);
}

// DESIGN: a slot that vanished, is lost or was created again means events were lost; one
// merely behind what pgep confirmed is normal (PostgreSQL does not persist every confirmation)
// and only means duplicates.
void WalSource::on_slot_checked(PGresult* result) {
  const std::string file = state_store_->where();
  if (PQntuples(result) == 0) {
    if (remembered_) {
      return fatal("the replication slot " + slot_ + " is gone, but pgep had confirmed up to " +
                   format_lsn(*remembered_) + " (" + file + "): what was written since may be lost. "
                   "To start afresh on purpose, " + state_store_->how_to_forget());
    }
    // PostgreSQL 17 can keep a logical slot on a physical standby (sync_replication_slots), so
    // that a promoted standby has it: only for a slot created with FAILOVER.
    bool failover = PQserverVersion(session_.conn()) >= 170000;
    log_info("creating the replication slot " + slot_ + " (" + plugin_name_ + (failover ? ", failover" : "") + ")");
    return send("CREATE_REPLICATION_SLOT " + slot_ + " LOGICAL " + plugin_name_ + (failover ? " (FAILOVER)" : ""),
                State::CreatingSlot);
  }
  std::string plugin = PQgetvalue(result, 0, 0);
  if (plugin != plugin_name_) {
    bool known = plugin == "wal2json" || plugin == "pgoutput";
    return fatal("the replication slot " + slot_ + " uses the plugin \"" + plugin + "\", but output_plugin is " +
                 plugin_name_ + "; " + (known ? "set output_plugin = " + plugin + ", " : std::string()) +
                 "set replication_slot to another name, or drop the slot (what it holds is then lost)");
  }
  uint64_t confirmed = parse_lsn(PQgetvalue(result, 0, 1)).value_or(0);
  uint64_t restart = parse_lsn(PQgetvalue(result, 0, 3)).value_or(0);
  if (std::string(PQgetvalue(result, 0, 2)) == "lost") {
    return fatal("the replication slot " + slot_ + " is marked lost (wal_status): PostgreSQL removed WAL it "
                 "needed, so events were lost. Drop the slot and " + state_store_->how_to_forget() + " to start afresh");
  }
  // The slot pgep used never starts after what pgep confirmed (the file is written first); a
  // slot created again starts where it was created. Unless another pgep of a pair streamed it
  // meanwhile, which only a store both read (state_table) can tell apart.
  bool ahead = remembered_ && (restart > *remembered_ || confirmed > *remembered_);
  if (ahead && !state_store_->sees_every_confirmation()) {
    log_warn("the replication slot " + slot_ + " starts at " + format_lsn(std::max(restart, confirmed)) + ", after " +
             format_lsn(*remembered_) + " which this pgep had confirmed (" + file + "): another pgep of the pair "
             "has streamed it since, or it was dropped and created again, which a state file per host cannot "
             "tell apart (state_table can); going on from the slot");
  } else if (ahead) {
    return fatal("the replication slot " + slot_ + " starts at " + format_lsn(std::max(restart, confirmed)) +
                 ", after " + format_lsn(*remembered_) + " which pgep had confirmed (" + file +
                 "): it was dropped and created again, so what was written in between was never delivered. "
                 "To start afresh on purpose, " + state_store_->how_to_forget());
  }
  if (remembered_ && confirmed < *remembered_) {
    log_info("the replication slot " + slot_ + " is at " + format_lsn(confirmed) + ", behind " +
             format_lsn(*remembered_) + " which pgep had confirmed: PostgreSQL did not keep the last "
             "confirmations (a restart?); what follows is sent again");
  }
  tracker_.reset(confirmed);
  // Each bridge skips what it acknowledged (known here, or saved before a restart). Not when the
  // slot is ahead of the state: another pgep streamed it since, and a position this one saved
  // inside a transaction would make its bridge skip, waiting for a transaction the stream has
  // left behind, everything after it (BridgeProgress trusts a saved position to be replayed).
  std::map<std::string, WalPosition> acknowledged;
  if (!ahead) {
    acknowledged = state_store_->saved_bridges();
    for (const auto& [bridge, position] : progress_.acknowledged()) acknowledged[bridge] = position;
  }
  progress_.resume(acknowledged, confirmed);
  remember(confirmed);
  start_replication();
}

void WalSource::on_slot_created(PGresult* result) {
  // CREATE_REPLICATION_SLOT answers slot_name, consistent_point, snapshot_name, output_plugin.
  tracker_.reset(parse_lsn(PQgetvalue(result, 0, 1)).value_or(0));
  remember(tracker_.flush_lsn());
  start_replication();
}

// Keeps the position before PostgreSQL hears of it, and returns the one it may hear of now (a
// table keeps it a moment later). A store that cannot be written is said once per change of
// state, and does not hold the slot back (slot_state_store.h).
uint64_t WalSource::remember(uint64_t lsn) {
  uint64_t confirmable = state_store_->save(lsn, progress_.acknowledged());
  bool ok = state_store_->error().empty();
  if (!ok && !state_write_failed_) {
    log_error("cannot keep the state: " + state_store_->error() +
              "; a slot that vanishes or is created again would go unnoticed");
  } else if (ok && state_write_failed_) {
    log_info("the state is kept again (" + state_store_->where() + ")");
  }
  state_write_failed_ = !ok;
  return confirmable;
}

void WalSource::start_replication() {
  std::string options = plugin_options();
  send("START_REPLICATION SLOT " + slot_ + " LOGICAL " + format_lsn(tracker_.flush_lsn()) +
           (options.empty() ? "" : " (" + options + ")"),
       State::Starting);
}

// wal2json's are the operator's wal2json_params. pgoutput's: the highest protocol version the
// server speaks (pgep asks for no streaming, so each one sends the same messages), the
// publication, and logical messages (PostgreSQL 14 and later).
std::string WalSource::plugin_options() const {
  if (!pgoutput_) return params_;
  int server = PQserverVersion(session_.conn());
  int protocol = server >= 160000 ? 4 : server >= 150000 ? 3 : server >= 140000 ? 2 : 1;
  std::string options = "proto_version '" + std::to_string(protocol) + "', publication_names '" + publication_ + "'";
  return server >= 140000 ? options + ", messages 'true'" : options;
}

void WalSource::on_streaming() {
  state_ = State::Streaming;
  session_.ready();
  ids_.restart();
  last_sent_flush_ = 0;
  log_info("streaming the WAL from slot " + slot_ + " at " + format_lsn(tracker_.flush_lsn()) +
           (pgoutput_ ? " (pgoutput, publication " + publication_ + ", wal2json format 2 bodies)"
                      : " (wal2json format " + std::to_string(format_version_) + ")"));
  last_heard_ms_ = now_ms();
  uv_timer_start(status_timer_.get(), [](uv_timer_t* t) { static_cast<WalSource*>(t->data)->on_status_tick(); },
                 kStatusTickMs, kStatusTickMs);
  listener_.on_wal_ready(true);
  update_watch();
  read_stream();
}

void WalSource::read_stream() {
  while (state_ == State::Streaming && !paused_) {
    char* buffer = nullptr;
    int size = PQgetCopyData(session_.conn(), &buffer, /*async=*/1);
    if (size == 0) return;  // nothing more for now
    if (size < 0) {
      std::unique_ptr<PGresult, decltype(&PQclear)> result(PQgetResult(session_.conn()), &PQclear);
      return session_.fail(size == -1 ? "the server ended the replication stream: " + pg_result_error(result.get())
                                      : session_.connection().error());
    }
    std::unique_ptr<char, decltype(&PQfreemem)> owned(buffer, &PQfreemem);
    last_heard_ms_ = now_ms();
    ReplicationMessage message = parse_replication_message(std::string_view(buffer, static_cast<size_t>(size)));
    switch (message.kind) {
      case ReplicationMessage::Kind::XLogData:
        handle_xlogdata(message);
        break;
      case ReplicationMessage::Kind::Keepalive:
        server_wal_end_ = std::max(server_wal_end_, message.wal_end);
        if (tracker_.server_wal_end(message.wal_end) || message.reply_requested) send_status();
        break;
      case ReplicationMessage::Kind::Unknown:
        log_warn("unexpected replication message of type " + std::to_string(static_cast<int>(buffer[0])) + " and " +
                 std::to_string(size) + " bytes: ignored");
        break;
    }
  }
}

void WalSource::handle_xlogdata(const ReplicationMessage& message) {
  std::string problem;
  if (pgoutput_) {
    size_t count = 0;
    // A message pgep cannot read is not skipped: the stream starts again from the confirmed
    // position, and the error is logged each time.
    if (!pgoutput_->decode(message.data, message.wal_start, events_, count, problem)) {
      return session_.fail("pgoutput message at " + format_lsn(message.wal_start) + ": " + problem);
    }
    for (size_t i = 0; i < count && state_ == State::Streaming; ++i) deliver(events_[i].record, events_[i].body, message);
    server_wal_end_ = std::max(server_wal_end_, message.wal_end);
    return;
  }
  WalRecord record = parser_.parse(message.data, format_version_, problem);
  if (!problem.empty()) {
    log_warn("WAL message at " + format_lsn(message.wal_start) + " forwarded with the routing key \"" +
             record.routing_key + "\": " + problem);
  }
  deliver(record, message.data, message);
  server_wal_end_ = std::max(server_wal_end_, message.wal_end);
}

// One record to the bridges, and to the flush rule.
void WalSource::deliver(const WalRecord& record, std::string_view body, const ReplicationMessage& message) {  // A record outside any transaction (no begin/commit records, a non-transactional logical
  // message) is a unit of its own: it holds the flush position at its LSN until acknowledged.
  bool standalone = !record.begins && !tracker_.in_transaction();
  if (record.begins || standalone) tracker_.begin();
  std::string id = event_id(record, message.wal_start, standalone);
  const WalPosition& position = ids_.position();
  bool was_skipping = progress_.skipping();
  // Only right after a (re)connection does some bridge skip; otherwise no question per bridge.
  std::function<bool(const std::string&)> skip;
  if (was_skipping) skip = [&](const std::string& bridge) { return progress_.skip(bridge, position); };
  Deliveries routed =
      listener_.on_wal_record(record.routing_key, body, id, format_version_ == 2 && (record.begins || record.commits), skip);
  if (was_skipping && !progress_.skipping()) {
    log_info("the bridges were sent again only what they had not acknowledged; " +
             std::to_string(progress_.skipped()) + " event(s) acknowledged before were not sent again");
  }
  for (const Delivery& delivery : routed) {
    tracker_.routed(delivery);
    progress_.routed(delivery, position);
  }
  if (record.commits || standalone) tracker_.commit(message.wal_start);
}

std::string WalSource::event_id(const WalRecord& record, uint64_t lsn, bool standalone) {
  if (format_version_ == 1) return ids_.whole_transaction(lsn);
  if (record.begins) return ids_.begin(lsn);
  if (record.commits) return ids_.commit(lsn);
  return standalone ? ids_.lone(lsn) : ids_.change(lsn);
}

void WalSource::on_status_tick() {
  uint64_t now = now_ms();
  if (!paused_ && now - last_heard_ms_ >= kSilenceMs) {
    return session_.fail("no word from the walsender for " + std::to_string(kSilenceMs / 1000) +
                         " s, though asked every " + std::to_string(kStatusIntervalMs / 1000) + " s");
  }
  bool moved = tracker_.flush_lsn() != last_sent_flush_ || progress_moved_;
  bool periodic = now - last_status_ms_ >= kStatusIntervalMs;
  if (moved || periodic) send_status(/*ask_reply=*/periodic);
}

void WalSource::send_status(bool ask_reply) {
  if (state_ != State::Streaming || !session_.conn()) return;
  uint64_t flush = remember(tracker_.flush_lsn());
  progress_moved_ = false;
  std::string update = standby_status_update(flush, postgres_now_us(), ask_reply);
  if (PQputCopyData(session_.conn(), update.data(), static_cast<int>(update.size())) != 1) {
    return session_.fail(session_.connection().error());
  }
  if (!session_.connection().flush()) return;
  last_sent_flush_ = flush;
  last_status_ms_ = now_ms();
}

void WalSource::on_acknowledged() {
  // The status timer tells PostgreSQL, and saves the bridges' positions, within kStatusTickMs.
  if (progress_.advance()) progress_moved_ = true;
  tracker_.advance();
}

void WalSource::pause(const std::string& why) {
  if (paused_) return;
  paused_ = true;
  if (!why.empty()) log_info("WAL source paused: " + why + " (PostgreSQL keeps the WAL)");
  if (state_ == State::Streaming) update_watch();
}

void WalSource::resume() {
  if (!paused_) return;
  paused_ = false;
  log_info("WAL source resumed");
  if (state_ != State::Streaming) return;
  last_heard_ms_ = now_ms();  // nothing was read while paused: silence counts from now
  update_watch();
  read_stream();
}

void WalSource::fatal(const std::string& reason) {
  uv_timer_stop(status_timer_.get());
  session_.stop();
  state_ = State::Fatal;
  listener_.on_wal_fatal(reason);
}

}  // namespace pgep
