// A PostgreSQL session that comes back: connects (PgConnection), reads what arrives, and on any
// failure closes, tells its owner, logs once per change of state and reconnects with backoff
// (Retry). The owner — the NOTIFY, outbox or WAL source — speaks only its protocol on top: it
// sends its first command when the session opens, reads results on input, and says when its
// handshake is done (ready). fail() is the one door every failure of a source goes out by.
//
// Called by: its owner. Calls back: Owner, from the loop; on_session_lost may come from inside
// any call that sends (a failed send), so the owner returns at once after such a call fails.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "shared/retry.h"
#include "shared/uv_handle.h"
#include "supervisor/sources/pg_connection.h"

namespace pgep {

// How often a session that mostly listens (NOTIFY, outbox) asks PostgreSQL whether it is there
// when idle, and how long that answer may take: a half-open connection is noticed within two.
inline constexpr uint64_t kPingMs = 10000;

class PgSession {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // Connected: send the first command.
    virtual void on_session_open() = 0;
    // Input arrived and was consumed (PQconsumeInput succeeded): read results or data.
    virtual void on_session_input() = 0;
    // The session is gone (was_ready: the handshake had been done); stop timers, tell whom it
    // may concern. A reconnect is scheduled.
    virtual void on_session_lost(bool was_ready) = 0;
    // What happens to events while the session is down, for the log line: "the rows wait in
    // events.events".
    virtual std::string while_down() const = 0;
  };

  // `name` opens the log lines ("NOTIFY", "outbox", "WAL replication"). `owner` must outlive
  // the session.
  PgSession(uv_loop_t* loop, std::string name, std::string uri, bool replication, Owner& owner);

  void start() { connect(); }
  // The owner's handshake is done (LISTEN, START_REPLICATION): the next failure is a loss.
  void ready();
  // Closes the connection and reconnects with backoff.
  void fail(const std::string& reason);
  // Closes the connection for good (a fault retrying cannot mend).
  void stop();
  // For an owner whose first command may wait (it has nothing to say until it has work).
  void no_handshake_deadline() { handshake_deadline_ = false; }

  bool is_ready() const { return state_ == State::Ready; }
  PgConnection& connection() { return connection_; }
  PGconn* conn() const { return connection_.get(); }

 private:
  enum class State { Connecting, Open, Ready, Waiting, Stopped };

  void connect();
  void on_open();
  void on_socket(int status);

  std::string name_;
  std::string uri_;
  bool replication_;
  bool handshake_deadline_ = !replication_;
  Owner& owner_;
  PgConnection connection_;
  Retry retry_;
  // libpq ignores connect_timeout when connecting asynchronously: a peer that accepts and then
  // says nothing (a frozen proxy) would hold the attempt for ever. Then, for a session that is
  // not replication, the owner's handshake has a deadline too.
  UvHandle<uv_timer_t> connect_timer_;
  State state_ = State::Waiting;
};

}  // namespace pgep
