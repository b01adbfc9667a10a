// One bridge as the supervisor sees it: its ledger and its pgep-worker process. Starts the
// worker (uv_spawn, its end of a socketpair as fd 3), answers Hello with Configure, sends every
// ledger entry the worker has not seen (many frames per write), drops what it acknowledges,
// and restarts it with capped exponential backoff when it dies, resending every
// unacknowledged event in order.
#pragma once

#include <uv.h>

#include <map>
#include <string>

#include "ipc/frame_stream.h"
#include "shared/backoff.h"
#include "shared/bridge.h"
#include "shared/uv_handle.h"
#include "supervisor/ledger.h"

namespace pgep {

class BridgeWorker : public ipc::FrameStream::Handler {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // The worker acknowledged events: the ledger shrank.
    virtual void on_acknowledged(BridgeWorker& bridge) = 0;
    // The worker exited after a shutdown request (or was killed at its deadline).
    virtual void on_worker_stopped(BridgeWorker& bridge) = 0;
  };

  BridgeWorker(uv_loop_t* loop, std::string name, BridgeSpec spec, std::map<std::string, std::string> settings,
               uint64_t max_events, uint64_t max_bytes, std::string worker_path, Owner& owner);
  ~BridgeWorker() override;

  void start();
  // Records the event in the ledger and sends it on when the worker is ready; returns its seq.
  uint64_t submit(ipc::Publish&& message);
  // Asks the worker to exit (after the supervisor has waited for the ledger to empty); kills
  // it if it has not exited after `deadline_ms`.
  void shutdown(uint64_t deadline_ms);

  const std::string& name() const { return name_; }
  const BridgeSpec& spec() const { return spec_; }
  const std::map<std::string, std::string>& settings() const { return settings_; }
  // New settings (a reload changed its upstream): the worker restarts with them, and what it
  // had not acknowledged is resent.
  void reconfigure(std::map<std::string, std::string> settings);
  const Ledger& ledger() const { return ledger_; }
  bool running() const { return state_ == State::Running; }
  bool stopped() const { return state_ == State::Stopped; }
  uint64_t restarts() const { return restarts_; }
  const std::map<std::string, uint64_t>& worker_stats() const { return stats_; }
  bool broker_connected() const { return running() && stats_.count("connected") && stats_.at("connected") == 1; }
  // pgep-ctl's view of this bridge, as a JSON object.
  std::string status_json() const;
  // Stops the worker; it is started again at once, and everything unacknowledged is resent.
  void restart();

 private:
  enum class State { Idle, Starting, Running, Restarting, Stopping, Stopped };

  void on_frame(ipc::Frame&& frame) override;
  void on_stream_closed(const std::string& reason) override;
  void on_exit(int64_t status, int signal);
  void on_hello(const ipc::Hello& hello);
  void pump();
  void kill_worker(const std::string& why);

  uv_loop_t* loop_;
  std::string name_;
  BridgeSpec spec_;
  std::map<std::string, std::string> settings_;
  std::string worker_path_;
  Owner& owner_;
  Ledger ledger_;
  State state_ = State::Idle;
  UvHandle<uv_process_t> process_;
  ipc::FrameStream::Ptr link_;
  UvHandle<uv_timer_t> timer_;  // restart backoff, or the shutdown deadline
  Backoff backoff_{200, 30000};
  uint64_t sent_upto_ = 0;      // highest seq written to the current worker
  uint64_t restarts_ = 0;
  int pid_ = 0;
  std::map<std::string, uint64_t> stats_;
  std::string last_error_;
  bool restart_requested_ = false;
};

}  // namespace pgep
