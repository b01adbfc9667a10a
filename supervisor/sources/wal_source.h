// The WAL source: a replication connection that creates the slot if it is missing (and refuses
// one of another plugin), streams it with START_REPLICATION and wal2json, hands each message to
// the supervisor, and confirms to PostgreSQL (standby status updates, at least every 10 s, also
// while paused) only what the flush rule allows (flush_tracker.h). COPY BOTH through libpq's
// non-blocking API on the libuv loop.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/backoff.h"
#include "shared/config.h"
#include "shared/uv_handle.h"
#include "supervisor/flush_tracker.h"
#include "supervisor/pg_connection.h"
#include "supervisor/wal_record.h"

namespace pgep {

class WalSource {
 public:
  using Routed = std::vector<std::pair<const Ledger*, uint64_t>>;

  class Listener {
   public:
    virtual ~Listener() = default;
    // One wal2json message; returns the (ledger, seq) of every bridge it was given to.
    virtual Routed on_wal_record(const std::string& routing_key, std::string_view body, const std::string& id) = 0;
    // Streaming began (true) or stopped (false).
    virtual void on_wal_ready(bool ready) = 0;
    // Something retrying cannot mend (a slot of another plugin, wal2json not allowed).
    virtual void on_wal_fatal(const std::string& reason) = 0;
  };

  WalSource(uv_loop_t* loop, const DatabaseSettings& database, std::string state_file, Listener& listener);
  ~WalSource();

  void start();
  void pause();
  void resume();
  // Bridges acknowledged events: move the flush position if the rule allows, and tell PostgreSQL.
  void on_acknowledged();
  // Sends a status update now; `last` (before stopping) also writes the state file.
  void send_status(bool last = false);
  uint64_t flush_lsn() const { return tracker_.flush_lsn(); }
  // The server's WAL end as last reported; flush_lsn() behind it is the replication lag.
  uint64_t server_wal_end() const { return server_wal_end_; }
  const std::string& slot() const { return slot_; }
  bool ready() const { return state_ == State::Streaming; }

 private:
  enum class State { Idle, Connecting, CheckingSlot, CreatingSlot, Starting, Streaming, Waiting, Fatal };

  void connect();
  void on_connected();
  void on_socket(int status, int events);
  void send(const std::string& sql, State next);
  void read_results();
  void on_result(PGresult* result);
  void on_streaming();
  void read_stream();
  void handle_message(const char* data, int size);
  void handle_xlogdata(uint64_t start, uint64_t wal_end, std::string_view payload);
  void fail(const std::string& reason);
  void fatal(const std::string& reason);
  void update_watch();
  std::optional<uint64_t> remembered_position();
  void remember_position(uint64_t lsn);

  uv_loop_t* loop_;
  std::string uri_;
  std::string slot_;
  std::string params_;
  std::string state_file_;
  uint64_t saved_lsn_ = 0;
  uint64_t saved_ms_ = 0;
  bool state_write_failed_ = false;
  int format_version_;
  Listener& listener_;
  PgConnection connection_;
  UvHandle<uv_timer_t> retry_timer_;
  UvHandle<uv_timer_t> status_timer_;
  Backoff backoff_{100, 10000};
  State state_ = State::Idle;
  bool paused_ = false;
  std::string last_error_;
  FlushTracker tracker_;
  WalRecordParser parser_;
  uint64_t last_sent_flush_ = 0;
  uint64_t last_status_ms_ = 0;
  uint64_t server_wal_end_ = 0;
  uint64_t last_lsn_ = 0;    // of the previous message, for ids of messages sharing an LSN
  uint64_t lsn_index_ = 0;
};

}  // namespace pgep
