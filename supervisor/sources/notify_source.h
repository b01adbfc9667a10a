// The NOTIFY source: one PostgreSQL session that LISTENs on every channel some bridge reads
// (names quoted, so mixed case works) and hands each notification to the supervisor. Its
// session (PgSession) reconnects with backoff, and it LISTENs again after any failure. A reload
// that changes the channels keeps the session: it LISTENs and UNLISTENs only the difference, so
// untouched channels lose nothing. Paused, it stops reading: notifications wait in PostgreSQL's
// queue and in libpq's buffer. A LISTEN session mostly only receives, so a connection that went
// silent (half-open: a frozen proxy, a lost route) would look like a quiet channel: while not
// paused it asks "SELECT 1" every 10 s, and a question unanswered for 10 s fails the session.
//
// Called by: the supervisor. Calls back: Listener, from the loop. On failure: PgSession.
#pragma once

#include <uv.h>

#include <string>
#include <string_view>
#include <vector>

#include "shared/uv_handle.h"
#include "supervisor/sources/pg_session.h"

namespace pgep {

class NotifySource : private PgSession::Owner {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_notification(std::string_view channel, std::string_view payload) = 0;
    // Every LISTEN succeeded (true), or the connection was lost (false).
    virtual void on_notify_ready(bool ready) = 0;
  };

  // `listener` must outlive this source.
  NotifySource(uv_loop_t* loop, std::string uri, std::vector<std::string> channels, Listener& listener);

  void start() { session_.start(); }
  // A reload changed the channels some bridge reads.
  void set_channels(std::vector<std::string> channels);
  // Stops delivering notifications until resume(); the connection stays open.
  void pause();
  void resume();
  bool ready() const { return session_.is_ready(); }

 private:
  // PgSession::Owner
  void on_session_open() override;
  void on_session_input() override;
  void on_session_lost(bool was_ready) override;
  std::string while_down() const override;

  void read_listen_results();
  void read_command_results();
  void on_ping_tick();
  void send_changes();
  // "LISTEN a;UNLISTEN b;" for what `wanted` has and `listened_` has not, and the reverse.
  bool listen_commands(const std::vector<std::string>& wanted, std::string& sql);
  void deliver();

  std::string uri_;
  std::vector<std::string> channels_;  // wanted
  std::vector<std::string> listened_;  // what the session LISTENs to (or was asked to)
  Listener& listener_;
  PgSession session_;
  bool paused_ = false;
  // The command under way once listening: a reload's LISTEN/UNLISTEN, or a liveness ping.
  enum class Command { None, Change, Ping };
  Command command_ = Command::None;
  uint64_t command_sent_ms_ = 0;
  UvHandle<uv_timer_t> ping_timer_;
};

}  // namespace pgep
