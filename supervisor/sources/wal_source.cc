#include "supervisor/wal_source.h"

#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "shared/log.h"
#include "shared/lsn.h"
#include "shared/uri.h"
#include "shared/wal2json_params.h"

namespace pgep {

namespace {

// PostgreSQL's clock counts microseconds from 2000-01-01.
constexpr int64_t kPostgresEpochOffsetUs = 946684800LL * 1000000;
// A status update at least this often, so the walsender never times out (default 60 s).
constexpr uint64_t kStatusIntervalMs = 10000;
// How often the timer looks whether the flush position moved.
constexpr uint64_t kStatusTickMs = 200;
// How often the confirmed position is written to the state file at most.
constexpr uint64_t kSaveIntervalMs = 1000;

uint64_t read_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void write_u64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t now_ms() { return uv_hrtime() / 1000000; }

int64_t postgres_now_us() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec - kPostgresEpochOffsetUs;
}


}  // namespace

WalSource::WalSource(uv_loop_t* loop, const DatabaseSettings& database, std::string state_file, Listener& listener)
    : loop_(loop),
      uri_(database.uri),
      slot_(database.replication_slot),
      params_(format_wal2json_params(database.wal2json_params)),
      state_file_(std::move(state_file)),
      format_version_(wal2json_format_version(database.wal2json_params)),
      listener_(listener),
      connection_(loop, {[this] { on_connected(); },
                         [this](int status, int events) { on_socket(status, events); },
                         [this](const std::string& reason) { fail(reason); }}),
      retry_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      status_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  retry_timer_.get()->data = this;
  status_timer_.get()->data = this;
}

WalSource::~WalSource() = default;

void WalSource::start() { connect(); }

void WalSource::connect() {
  state_ = State::Connecting;
  connection_.connect(uri_, /*replication=*/true);
}

void WalSource::on_connected() {
  // The slot name is checked by the configuration: lower-case letters, digits and _.
  send("SELECT plugin, confirmed_flush_lsn, wal_status FROM pg_replication_slots WHERE slot_name = '" + slot_ + "'",
       State::CheckingSlot);
}

void WalSource::send(const std::string& sql, State next) {
  state_ = next;
  connection_.send_query(sql);
}

// Paused, pgep reads nothing more of the stream; PostgreSQL keeps the WAL meanwhile.
void WalSource::update_watch() { connection_.watch_reads(!paused_ || state_ != State::Streaming); }

void WalSource::on_socket(int status, int) {
  if (status < 0) return fail(std::string("socket error: ") + uv_strerror(status));
  if (!PQconsumeInput(connection_.get())) return fail(connection_.error());
  if (state_ == State::Streaming) return read_stream();
  read_results();
}

// A command's results are read to the end before the next command is sent.
void WalSource::read_results() {
  PgConnection::ResultPtr result{nullptr, &PQclear};
  switch (connection_.take_answer(result)) {
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
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string error = pg_result_error(result);
    if (error.find("may not be used as an output plugin") != std::string::npos) {
      return fatal(error + " (add wal2json to the server's output_plugin_libraries setting, PostgreSQL 15.19 and later)");
    }
    if (state_ == State::Starting && error.find("is active for PID") != std::string::npos) {
      return fail(error + " (a previous pgep's walsender still holds it)");  // retried: it goes away
    }
    if (state_ == State::Starting && error.find("option") != std::string::npos) {
      return fatal("wal2json refused wal2json_params: " + error);
    }
    return fail(error);
  }
  std::optional<uint64_t> remembered = state_ == State::CheckingSlot ? remembered_position() : std::nullopt;
  if (state_ == State::CheckingSlot && PQntuples(result) == 0) {
    if (remembered) {
      return fatal("the replication slot " + slot_ + " is gone, but pgep had confirmed up to " +
                   format_lsn(*remembered) + " (" + state_file_ + "): what was written since may be lost. "
                   "To start afresh on purpose, delete " + state_file_);
    }
    log_info("creating the replication slot " + slot_ + " (wal2json)");
    return send("CREATE_REPLICATION_SLOT " + slot_ + " LOGICAL wal2json", State::CreatingSlot);
  }
  if (state_ == State::CheckingSlot) {
    std::string plugin = PQgetvalue(result, 0, 0);
    if (plugin != "wal2json") {
      return fatal("the replication slot " + slot_ + " uses the plugin \"" + plugin +
                   "\", not wal2json; drop it or set replication_slot to another name");
    }
    uint64_t confirmed = parse_lsn(PQgetvalue(result, 0, 1)).value_or(0);
    if (std::string(PQgetvalue(result, 0, 2)) == "lost") {
      return fatal("the replication slot " + slot_ + " is marked lost (wal_status): PostgreSQL removed WAL it "
                   "needed, so events were lost. Drop the slot and delete " + state_file_ + " to start afresh");
    }
    if (remembered && confirmed < *remembered) {
      return fatal("the replication slot " + slot_ + " is at " + format_lsn(confirmed) + ", behind " +
                   format_lsn(*remembered) + " which pgep had confirmed (" + state_file_ +
                   "): it is not the slot pgep used. To start afresh on purpose, delete " + state_file_);
    }
    tracker_.reset(confirmed);
  } else if (state_ == State::CreatingSlot) {
    // CREATE_REPLICATION_SLOT answers slot_name, consistent_point, snapshot_name, output_plugin.
    tracker_.reset(parse_lsn(PQgetvalue(result, 0, 1)).value_or(0));
    remember_position(tracker_.flush_lsn());
  } else {
    return fail("unexpected result while starting replication");
  }
  std::string params = params_.empty() ? "" : " (" + params_ + ")";
  send("START_REPLICATION SLOT " + slot_ + " LOGICAL " + format_lsn(tracker_.flush_lsn()) + params, State::Starting);
}

void WalSource::on_streaming() {
  state_ = State::Streaming;
  backoff_.reset();
  last_error_.clear();
  last_sent_flush_ = 0;
  log_info("streaming the WAL from slot " + slot_ + " at " + format_lsn(tracker_.flush_lsn()) + " (wal2json format " +
           std::to_string(format_version_) + ")");
  uv_timer_start(status_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<WalSource*>(t->data);
    bool moved = self->tracker_.flush_lsn() != self->last_sent_flush_;
    if (moved || now_ms() - self->last_status_ms_ >= kStatusIntervalMs) self->send_status();
  }, kStatusTickMs, kStatusTickMs);
  listener_.on_wal_ready(true);
  update_watch();
  read_stream();
}

void WalSource::read_stream() {
  while (state_ == State::Streaming && !paused_) {
    char* buffer = nullptr;
    int size = PQgetCopyData(connection_.get(), &buffer, /*async=*/1);
    if (size == 0) return;  // nothing more for now
    if (size < 0) {
      std::unique_ptr<PGresult, decltype(&PQclear)> result(PQgetResult(connection_.get()), &PQclear);
      return fail(size == -1 ? "the server ended the replication stream: " + pg_result_error(result.get())
                             : connection_.error());
    }
    std::unique_ptr<char, decltype(&PQfreemem)> owned(buffer, &PQfreemem);
    handle_message(buffer, size);
  }
}

void WalSource::handle_message(const char* data, int size) {
  if (size >= 25 && data[0] == 'w') {  // XLogData: start, server WAL end, clock, then the data
    return handle_xlogdata(read_u64(data + 1), read_u64(data + 9),
                           std::string_view(data + 25, static_cast<size_t>(size - 25)));
  }
  if (size >= 18 && data[0] == 'k') {  // keepalive: server WAL end, clock, reply requested
    server_wal_end_ = std::max(server_wal_end_, read_u64(data + 1));
    if (tracker_.server_wal_end(read_u64(data + 1)) || data[17]) send_status();
    return;
  }
  log_warn("unexpected replication message of type " + std::to_string(static_cast<int>(data[0])) + " and " +
           std::to_string(size) + " bytes: ignored");
}

void WalSource::handle_xlogdata(uint64_t start, uint64_t wal_end, std::string_view payload) {
  std::string error;
  std::optional<WalRecord> record = parser_.parse(payload, format_version_, error);
  if (!record) {
    log_error("WAL message at " + format_lsn(start) + " not routed: " + error);
    return;
  }
  // Changes of one multi-row statement can share an LSN: the index keeps their ids apart, and
  // a replay from the slot gives the same ids again.
  lsn_index_ = start == last_lsn_ ? lsn_index_ + 1 : 0;
  last_lsn_ = start;
  if (record->begins) tracker_.begin();
  Routed routed = listener_.on_wal_record(record->routing_key, payload,
                                          format_lsn(start) + "-" + std::to_string(lsn_index_));
  for (const auto& [ledger, seq] : routed) tracker_.routed(ledger, seq);
  if (record->commits) tracker_.commit(start);
  server_wal_end_ = std::max(server_wal_end_, wal_end);
}

void WalSource::send_status(bool last) {
  if (state_ != State::Streaming || !connection_.get()) return;
  uint64_t flush = tracker_.flush_lsn();
  char message[34];
  message[0] = 'r';
  write_u64(message + 1, flush);   // written
  write_u64(message + 9, flush);   // flushed: what PostgreSQL may forget
  write_u64(message + 17, flush);  // applied
  write_u64(message + 25, static_cast<uint64_t>(postgres_now_us()));
  message[33] = 0;
  if (PQputCopyData(connection_.get(), message, sizeof message) != 1) return fail(connection_.error());
  if (!connection_.flush()) return;
  last_sent_flush_ = flush;
  last_status_ms_ = now_ms();
  if (flush != saved_lsn_ && (last || last_status_ms_ - saved_ms_ >= kSaveIntervalMs)) remember_position(flush);
}

std::optional<uint64_t> WalSource::remembered_position() {
  std::ifstream in(state_file_);
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text);
  std::optional<uint64_t> lsn = parse_lsn(text);
  if (!lsn) log_warn("the state file " + state_file_ + " does not hold a WAL position; ignored");
  return lsn;
}

// Written to a temporary file and renamed, so the file always holds a whole position. It lags
// the slot by up to kSaveIntervalMs, which only makes the check at start more lenient.
void WalSource::remember_position(uint64_t lsn) {
  saved_lsn_ = lsn;
  saved_ms_ = now_ms();
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(state_file_).parent_path(), ignored);
  std::string temporary = state_file_ + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << format_lsn(lsn) << "\n";
    if (!out) {
      if (!state_write_failed_) log_warn("cannot write the state file " + state_file_ + ": a vanished slot would go unnoticed");
      state_write_failed_ = true;
      return;
    }
  }
  if (std::rename(temporary.c_str(), state_file_.c_str()) != 0 && !state_write_failed_) {
    log_warn("cannot write the state file " + state_file_ + ": " + std::strerror(errno));
    state_write_failed_ = true;
  }
}

void WalSource::on_acknowledged() {
  tracker_.advance();  // the status timer tells PostgreSQL within kStatusTickMs
}

void WalSource::pause() {
  if (paused_) return;
  paused_ = true;
  log_info("WAL source paused: a bridge's ledger is full (PostgreSQL keeps the WAL)");
  if (state_ == State::Streaming) update_watch();
}

void WalSource::resume() {
  if (!paused_) return;
  paused_ = false;
  log_info("WAL source resumed");
  if (state_ != State::Streaming) return;
  update_watch();
  read_stream();
}

void WalSource::fail(const std::string& reason) {
  if (state_ == State::Fatal) return;
  bool was_streaming = state_ == State::Streaming;
  uv_timer_stop(status_timer_.get());
  connection_.close();
  state_ = State::Waiting;
  if (was_streaming) listener_.on_wal_ready(false);
  if (was_streaming || reason != last_error_) {
    log_warn(std::string("WAL replication connection ") + (was_streaming ? "lost" : "failed") + ": " + reason +
             "; retrying with backoff (PostgreSQL resends from the last confirmed position " +
             format_lsn(tracker_.flush_lsn()) + ")");
  }
  last_error_ = reason;
  uv_timer_start(retry_timer_.get(), [](uv_timer_t* t) { static_cast<WalSource*>(t->data)->connect(); },
                 backoff_.next(), 0);
}

void WalSource::fatal(const std::string& reason) {
  uv_timer_stop(status_timer_.get());
  connection_.close();
  state_ = State::Fatal;
  listener_.on_wal_fatal(reason);
}

}  // namespace pgep
