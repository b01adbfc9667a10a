// One bridge's pgep-worker process, as the supervisor sees it: starts it (uv_spawn, its end of
// a socketpair as fd 3), answers its Hello with Configure, feeds it the ledger through the
// link, drops from the ledger what it acknowledges, and restarts it with capped backoff when
// it exits (Retry), resending every unacknowledged event in order. A shutdown asks it to exit
// and kills it at a deadline.
//
// Called by: Bridge, which owns it and its ledger. Calls back: Owner, from the loop. On
// failure (a crash, a broken link) it logs, and restarts the worker; it never gives up.
#pragma once

#include <signal.h>
#include <uv.h>

#include <map>
#include <memory>
#include <string>

#include "shared/log.h"
#include "shared/next_turn.h"
#include "shared/retry.h"
#include "shared/uv_handle.h"
#include "supervisor/ledger.h"
#include "supervisor/link.h"

namespace pgep {

// How long a worker asked to shut down (its ledger drained, or shutdown_timeout passed) has to
// exit before it is killed.
constexpr uint64_t kWorkerExitMs = 3000;

class WorkerProcess : public Link::Handler {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // The worker acknowledged events: the ledger shrank.
    virtual void on_acknowledged() = 0;
    // The worker exited after a shutdown request (or was killed at its deadline).
    virtual void on_worker_stopped() = 0;
    // The worker gave up on `message` (refused more than dead_letter_after times); its seq is
    // held in the ledger until its dead letter is written.
    virtual void on_gave_up(ipc::Publish&& message, const std::string& error) = 0;
  };
  enum class State { Idle, Starting, Running, Restarting, Stopping, Stopped };

  // `ledger` and `owner` must outlive the worker process; `bridge` names it in logs and on
  // its command line (ps).
  WorkerProcess(uv_loop_t* loop, std::string bridge, std::map<std::string, std::string> settings, Ledger& ledger,
                std::string worker_path, Owner& owner);
  ~WorkerProcess() override;

  void start();
  // New events are in the ledger: sends them when the worker is ready.
  void pump();
  // Asks the worker to exit; kills it if it has not exited after `deadline_ms`.
  void shutdown(uint64_t deadline_ms);
  // Stops the worker; it is started again at once, and everything unacknowledged is resent.
  // False when there is no worker to restart (it is restarting, stopping or stopped).
  bool restart(int signal = SIGTERM);
  // The same with new settings (a reload changed its upstream).
  void reconfigure(std::map<std::string, std::string> settings);

  const std::map<std::string, std::string>& settings() const { return settings_; }
  State state() const { return state_; }
  bool running() const { return state_ == State::Running; }
  bool stopped() const { return state_ == State::Stopped; }
  int pid() const { return pid_; }
  uint64_t restarts() const { return restarts_; }
  const std::string& last_error() const { return last_error_; }
  // What the worker reported of itself (ipc::Stats); counters (published, confirmed,
  // unroutable, refused) add up across restarts, so they never go backwards; 0 if never sent.
  uint64_t stat(const std::string& key) const;
  bool broker_connected() const { return running() && stat("connected") == 1; }

 private:
  LinkWindow link_window() const;
  void pump_now();
  // Link::Handler
  void on_hello(const ipc::Hello& hello) override;
  void on_ack(uint64_t seq) override;
  void on_nack(const ipc::Nack& nack) override;
  void on_stats(const ipc::Stats& stats) override;
  void on_link_broken(const std::string& why) override;
  void on_link_closed(const std::string& reason) override;

  bool spawn(int worker_fd);
  void on_exit(int64_t status, int signal);
  void kill_worker(const std::string& why);

  uv_loop_t* loop_;
  Logger log_;
  std::string bridge_;
  std::map<std::string, std::string> settings_;
  Ledger& ledger_;
  std::string worker_path_;
  Owner& owner_;
  State state_ = State::Idle;
  UvHandle<uv_process_t> process_;
  std::unique_ptr<Link> link_;           // the current worker's socket
  Retry restart_;                        // a worker that exited on its own, or on request
  UvHandle<uv_timer_t> deadline_timer_;  // a worker asked to shut down is killed after it
  NextTurn pump_turn_;
  int pid_ = 0;
  uint64_t restarts_ = 0;
  uint64_t stat_of_current(const std::string& key) const;

  std::map<std::string, uint64_t> stats_;    // from the current worker
  std::map<std::string, uint64_t> earlier_;  // counters of the workers before it
  std::string last_error_;
  bool restart_requested_ = false;
};

}  // namespace pgep
