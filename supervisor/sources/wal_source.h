// The WAL source: a replication session that creates the slot if it is missing (and refuses
// one of another plugin), streams it with START_REPLICATION and wal2json or pgoutput (with its
// publication, made if missing; pgoutput_decoder.h writes wal2json's bodies), hands each record
// to the supervisor, and confirms to PostgreSQL (standby status updates, at least every 10 s, also
// while paused) only what the flush rule allows (flush_tracker.h). COPY BOTH through libpq's
// non-blocking API on the libuv loop; the byte layouts are in wal_protocol.h.
//
// Called by: the supervisor. Calls back: Listener, from the loop. On failure: PgSession
// reconnects (PostgreSQL resends from the confirmed position), except for what retrying cannot
// mend, which goes to on_wal_fatal.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/config.h"
#include "shared/uv_handle.h"
#include "supervisor/sources/bridge_progress.h"
#include "supervisor/sources/event_ids.h"
#include "supervisor/sources/flush_tracker.h"
#include "supervisor/sources/pg_session.h"
#include "supervisor/sources/pgoutput_decoder.h"
#include "supervisor/sources/wal_protocol.h"
#include "supervisor/sources/wal_record.h"
#include "supervisor/sources/slot_state_store.h"

namespace pgep {

class WalSource : private PgSession::Owner {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // One wal2json record; returns where it went. `skip(bridge)` is true for a bridge that
    // acknowledged this event before a restart (bridge_progress.h): it is not sent again.
    // `transaction_record`: a begin or commit record, which a bridge may decline.
    virtual Deliveries on_wal_record(const std::string& routing_key, std::string_view body, const std::string& id,
                                     bool transaction_record,
                                     const std::function<bool(const std::string&)>& skip) = 0;
    // Streaming began (true) or stopped (false).
    virtual void on_wal_ready(bool ready) = 0;
    // Something retrying cannot mend (a slot of another plugin, wal2json not allowed).
    virtual void on_wal_fatal(const std::string& reason) = 0;
  };

  // `listener` must outlive this source.
  WalSource(uv_loop_t* loop, const DatabaseSettings& database, std::unique_ptr<SlotStateStore> state, Listener& listener);

  void start() {
    state_store_->start();
    session_.start();
  }
  // Stops reading the stream (PostgreSQL keeps the WAL); `why` is logged unless empty.
  void pause(const std::string& why = "a bridge's ledger is full");
  void resume();
  // Bridges acknowledged events: move the flush position if the rule allows, and tell PostgreSQL.
  void on_acknowledged();
  // Sends a status update now, after writing its position to the state file; `ask_reply`
  // asks the walsender to answer at once (how a half-open stream is noticed).
  void send_status(bool ask_reply = false);
  uint64_t flush_lsn() const { return tracker_.flush_lsn(); }
  // The server's WAL end as last reported; flush_lsn() behind it is the replication lag.
  uint64_t server_wal_end() const { return server_wal_end_; }
  const std::string& slot() const { return slot_; }
  bool ready() const { return state_ == State::Streaming; }
  bool refers_to(const Ledger& ledger) const { return tracker_.refers_to(ledger) || progress_.refers_to(ledger); }
  // A reload removed the bridge of `ledger`: the slot stops waiting for it.
  void forget(const Ledger& ledger) {
    tracker_.forget(ledger);
    progress_.forget(ledger);
    progress_moved_ = true;
  }

 private:
  enum class State {
    Down, Identifying, ReadingState, CheckingPublication, CreatingPublication, ReadingTypes, CheckingSlot, CreatingSlot, Starting,
    Streaming, Fatal
  };

  // PgSession::Owner
  void on_session_open() override;
  void on_session_input() override;
  void on_session_lost(bool was_ready) override;
  std::string while_down() const override;

  void send(const std::string& sql, State next);
  void read_results();
  void on_result(PGresult* result);
  void on_command_failed(PGresult* result);
  void on_identified(PGresult* result);
  void on_state_read(const SlotStateStore::Read& read);
  void on_publication_checked(PGresult* result);
  void read_types_or_check_slot();
  void on_types_read(PGresult* result);
  void check_slot();
  void on_slot_checked(PGresult* result);
  uint64_t remember(uint64_t lsn);
  void on_slot_created(PGresult* result);
  void start_replication();
  std::string plugin_options() const;
  void on_streaming();
  void read_stream();
  void handle_xlogdata(const ReplicationMessage& message);
  void deliver(const WalRecord& record, std::string_view body, const ReplicationMessage& message);
  void on_status_tick();
  std::string event_id(const WalRecord& record, uint64_t lsn, bool standalone);
  void fatal(const std::string& reason);
  void update_watch();

  std::string slot_;
  OutputPlugin plugin_;
  std::string plugin_name_;  // "wal2json" or "pgoutput", as CREATE_REPLICATION_SLOT and pg_replication_slots say
  std::string publication_;  // pgoutput's
  std::string params_;       // wal2json's START_REPLICATION options
  int format_version_;
  std::unique_ptr<PgoutputDecoder> pgoutput_;  // with output_plugin = pgoutput
  std::vector<WalEvent> events_;               // what pgoutput_ made of the last message
  Listener& listener_;
  PgSession session_;
  std::unique_ptr<SlotStateStore> state_store_;
  std::optional<uint64_t> remembered_;  // what the state store held at connection
  bool state_write_failed_ = false;
  UvHandle<uv_timer_t> status_timer_;
  State state_ = State::Down;
  bool paused_ = false;
  FlushTracker tracker_;
  BridgeProgress progress_;
  bool progress_moved_ = false;  // a bridge's acknowledged position moved: save it
  WalRecordParser parser_;
  uint64_t last_sent_flush_ = 0;
  uint64_t last_status_ms_ = 0;
  uint64_t last_heard_ms_ = 0;  // when the stream last gave a message (read while not paused)
  uint64_t server_wal_end_ = 0;
  WalEventIds ids_;
};

}  // namespace pgep
