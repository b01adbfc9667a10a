// The dead letters: messages that can never be delivered (over the frame limit or the
// upstream's max_message_bytes, or refused by the broker more than dead_letter_after times).
// Each is written to events.dead_letters (postgres/1_events.sql) on a session of its own, one
// INSERT at a time, and only once the row is committed is its bridge told (Listener), so the
// ledger lets the event go and the events after it flow on. Until then the seq is held and the
// WAL position or outbox row it came from stays: a dead letter is never lost, even when the
// table is missing (then the bridge waits and the log says what to run).
//
// Called by: the supervisor. Calls back: Listener, from the loop. On failure: PgSession
// reconnects with backoff and the letter is written again.
#pragma once

#include <uv.h>

#include <deque>
#include <string>

#include "ipc/frame.h"
#include "supervisor/ledger.h"
#include "supervisor/sources/pg_session.h"

namespace pgep {

class DeadLetters : private PgSession::Owner {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // The dead letter of `seq` in `ledger` is committed.
    virtual void on_dead_letter_written(const Ledger& ledger, uint64_t seq) = 0;
  };

  // `listener` must outlive this.
  DeadLetters(uv_loop_t* loop, std::string uri, Listener& listener);

  // Writes `message` (held as `message.seq` in `ledger`) with why it can never be delivered.
  void add(const Ledger& ledger, const std::string& bridge, ipc::Publish&& message, const std::string& error);
  // Whether a letter of `ledger` is still to be written (its bridge may not be freed yet).
  bool refers_to(const Ledger& ledger) const;
  size_t pending() const { return letters_.size(); }

 private:
  struct Letter {
    const Ledger* ledger;
    std::string bridge;
    ipc::Publish message;
    std::string error;
  };

  // PgSession::Owner
  void on_session_open() override;
  void on_session_input() override;
  void on_session_lost(bool was_ready) override;
  std::string while_down() const override;

  void write_next();
  void on_written(PGresult* result);

  Listener& listener_;
  PgSession session_;
  bool started_ = false;
  bool writing_ = false;  // the front letter's INSERT is under way
  std::deque<Letter> letters_;
};

}  // namespace pgep
