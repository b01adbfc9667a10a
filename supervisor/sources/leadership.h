// Active or standby (DESIGN.md "High availability", docs/ha.md). A PostgreSQL session of its
// own tries, every second, to take a session-level advisory lock keyed by the database and the
// replication slot: the pgep that holds it is active (it LISTENs, drains the outbox, streams the
// slot); the others stand by, their workers connected to their brokers.
//
// The lock is a lease. The session runs with idle_session_timeout = takeover_timeout, and the
// active pgep renews it (SELECT 1) four times per takeover_timeout, so PostgreSQL ends the
// session of an active pgep that stopped renewing (frozen, cut off) and its lock goes with it.
// The active pgep stops forwarding by itself before that can happen: when its last renewal is
// older than takeover_timeout less a margin, or when its session fails, it is standby at once.
// The check runs on a timer, and libuv runs the timers of a loop turn before its I/O, so a
// process resumed after a freeze stands down before it reads anything more.
//
// The walsender of a previous holder that is frozen or cut off goes by itself: pgep's replication
// sessions run with wal_sender_timeout = 20 s (pg_connection.cc), which PostgreSQL enforces without
// a word to the client. pg_terminate_backend would be worse: the walsender would then block for
// ever sending its last error to a client that does not read.
//
// Called by: the supervisor. Calls back: Listener, from the loop, never from inside a source's
// callback (the tick timer or this session's own input).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "shared/uv_handle.h"
#include "supervisor/sources/pg_session.h"

namespace pgep {

class Leadership : private PgSession::Owner {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_active() = 0;
    // No longer active: stop forwarding now. `why` is for the log.
    virtual void on_standby(const std::string& why) = 0;
  };

  Leadership(uv_loop_t* loop, std::string uri, std::string slot, uint64_t takeover_ms, Listener& listener);

  void start() { session_.start(); }
  bool active() const { return active_; }
  // SQL that is true only while this pgep's lock session holds the lock: the outbox's batch
  // SELECT carries it, so rows are taken in the same statement that checks the lock.
  std::string holder_condition() const;
  // How many times this pgep became active (for status and metrics).
  uint64_t takeovers() const { return takeovers_; }

 private:
  enum class Command { None, Setup, TryLock, Renew };

  // PgSession::Owner
  void on_session_open() override;
  void on_session_input() override;
  void on_session_lost(bool was_ready) override;
  std::string while_down() const override;

  void on_tick();
  void send(Command command, const std::string& sql);
  void try_lock();
  void answered(bool ok, const std::string& value, const std::string& error);
  void stand_down(const std::string& why);

  uv_loop_t* loop_;
  std::string slot_;
  uint64_t takeover_ms_;
  Listener& listener_;
  PgSession session_;
  UvHandle<uv_timer_t> tick_;
  Command command_ = Command::None;
  uint64_t sent_ms_ = 0;
  uint64_t renewed_ms_ = 0;  // when the last renewal that was answered was sent
  int backend_pid_ = 0;      // the lock session's, once it holds the lock
  bool active_ = false;
  uint64_t takeovers_ = 0;
  bool standby_said_ = false;  // "standing by" is logged once per wait
};

}  // namespace pgep
