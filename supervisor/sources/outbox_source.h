// The durable outbox: rows of events.events (postgres/1_events.sql), written in the sender's
// transaction. A connection of its own LISTENs for the wake-up channel and drains the table at
// start, after every reconnect and on each wake-up, handing rows to the router as if they were
// notifications on their channel; a row is deleted (by id: ids commit out of order) once every
// bridge it went to acknowledged it, or at once when no bridge reads its channel.
#pragma once

#include <uv.h>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "shared/backoff.h"
#include "shared/uv_handle.h"
#include "supervisor/ledger.h"
#include "supervisor/pg_connection.h"

namespace pgep {

class OutboxSource {
 public:
  using Routed = std::vector<std::pair<const Ledger*, uint64_t>>;

  class Listener {
   public:
    virtual ~Listener() = default;
    virtual Routed on_outbox_row(int64_t id, std::string_view channel, std::string_view payload) = 0;
  };

  OutboxSource(uv_loop_t* loop, std::string uri, Listener& listener);
  ~OutboxSource();

  void start();
  void pause();
  void resume();
  // Bridges acknowledged events: rows all of whose events are acknowledged get deleted.
  void on_acknowledged();
  size_t rows_in_flight() const { return in_flight_.size(); }

 private:
  enum class State { Idle, Connecting, Listening, Ready, Selecting, Deleting, Waiting };
  struct Row {
    int64_t id;
    Routed routed;
  };

  void connect();
  void on_socket(int status, int events);
  void send(const std::string& sql, State next);
  void read_results();
  void on_result(PGresult* result);
  void on_rows(PGresult* result);
  void read_wakeups();
  void next();
  void fail(const std::string& reason);

  uv_loop_t* loop_;
  std::string uri_;
  Listener& listener_;
  PgConnection connection_;
  UvHandle<uv_timer_t> retry_timer_;
  Backoff backoff_{100, 10000};
  State state_ = State::Idle;
  bool paused_ = false;
  bool drain_requested_ = false;
  bool drain_again_ = false;     // a wake-up came during a drain
  int64_t cursor_ = 0;           // highest id seen in this drain
  std::deque<Row> in_flight_;    // routed, not all acknowledged, in routing order
  std::vector<int64_t> to_delete_;
  std::unordered_set<int64_t> known_;  // ids in in_flight_ or to_delete_: a drain skips them
  std::string last_error_;
};

}  // namespace pgep
