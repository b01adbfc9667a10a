// The durable outbox: rows of events.events (postgres/1_events.sql), written in the sender's
// transaction. A session of its own LISTENs for the wake-up channel and drains the table at
// start, after every reconnect and on each wake-up, handing rows to the router as if they were
// notifications on their channel; a row is deleted (by id) once every bridge it went to
// acknowledged it (OutboxTracker). Only rows of channels this pgep routes are read: the others
// stay in the table for whoever routes them, and are logged once per channel.
//
// Like the NOTIFY session it mostly listens, so an idle session asks "SELECT 1" every 10 s and a
// question unanswered for 10 s fails it (a half-open connection would strand wake-ups); any
// other command unanswered for 60 s fails it too (one may wait on a lock, not for ever).
//
// Called by: the supervisor. Calls back: Listener, from the loop. On failure: PgSession (the
// rows wait in the table); a DELETE that fails is retried alone, its rows never published again.
#pragma once

#include <uv.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shared/retry.h"
#include "shared/uv_handle.h"
#include "supervisor/ledger.h"
#include "supervisor/sources/outbox_tracker.h"
#include "supervisor/sources/pg_session.h"

namespace pgep {

class OutboxSource : private PgSession::Owner {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // One row, with its event id (event_ids.h).
    virtual Deliveries on_outbox_row(const std::string& id, std::string_view channel, std::string_view payload) = 0;
  };

  // `channels`: the channels some bridge reads. `listener` must outlive this source.
  OutboxSource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener);

  void start() { session_.start(); }
  // An SQL condition every batch's SELECT must meet, or it takes no row: the active pgep's
  // "my lock session still holds the lock" (Leadership::holder_condition), checked in the
  // statement that takes the rows. Empty: none.
  void set_guard(std::string condition) { guard_ = std::move(condition); }
  // A reload changed the channels some bridge reads.
  void set_channels(std::vector<std::string> channels);
  void pause();
  void resume();
  // Bridges acknowledged events: rows all of whose events are acknowledged get deleted.
  void on_acknowledged();
  size_t rows_in_flight() const { return tracker_.rows_in_flight(); }
  bool refers_to(const Ledger& ledger) const { return tracker_.refers_to(ledger); }
  // A reload removed the bridge of `ledger`: its rows stop waiting for it (OutboxTracker::forget).
  void forget(const Ledger& ledger) {
    tracker_.forget(ledger);
    next();
  }

 private:
  // The command under way: one at a time on the session.
  enum class Command { None, Listen, Identify, CountUnrouted, Select, Delete, Ping };
  std::string guard_;

  // PgSession::Owner
  void on_session_open() override;
  void on_session_input() override;
  void on_session_lost(bool was_ready) override;
  std::string while_down() const override { return "the rows wait in events.events"; }

  void send(const std::string& sql, Command command);
  void read_results();
  void on_result(PGresult* result);
  void on_command_failed(Command failed, PGresult* result);
  void on_rows(PGresult* result);
  void on_identified(PGresult* result);
  void on_unrouted(PGresult* result);
  void read_wakeups();
  void next();
  void on_ping_tick();
  // `channel IN ('a','b')`, quoted by libpq.
  std::string channel_list() const;

  Listener& listener_;
  PgSession session_;
  OutboxTracker tracker_;
  std::vector<std::string> channels_;
  Retry delete_retry_;        // a DELETE that failed while the session stayed up
  Command command_ = Command::None;
  uint64_t command_sent_ms_ = 0;
  UvHandle<uv_timer_t> ping_timer_;
  bool paused_ = false;
  bool drain_requested_ = false;
  bool drain_again_ = false;  // a wake-up came during a pass: another pass from the start
  bool count_unrouted_ = false;
  int64_t cursor_ = 0;        // highest id seen in this pass
  std::string id_prefix_;     // SYSID:DB:, for the rows' event ids
  std::set<std::string> unrouted_logged_;
};

}  // namespace pgep
