// The supervisor: owns the configuration, the sources, the router, one Bridge per bridge and
// the signals. Pauses a source while a bridge it feeds has a full ledger; on SIGTERM or SIGINT
// stops reading, waits (up to shutdown_timeout) for the brokers to confirm what is in flight,
// then stops the workers.
//
// An event's life, step by step, and the file that holds each step:
//   1 source     sources/notify_source.cc  sources/outbox_source.cc  sources/wal_source.cc
//                (each on sources/pg_session.cc, which keeps its connection alive)
//   2 route      router.cc (the hub that counts and pauses is on_notification & co. below)
//   3 ledger     ledger.cc, owned by bridge.cc
//   4 link       link.cc, owned by worker_process.cc for one run of the worker
//   5 publish    ../workers/worker.cc, publish_window.cc, *_publisher.cc (another process)
//   6 ack        link.cc → worker_process.cc (ledger) → on_acknowledged below → the sources
//   7 confirm    sources/flush_tracker.cc → sources/wal_source.cc (slot)
//                sources/outbox_tracker.cc → sources/outbox_source.cc (DELETE)
// Beside the event path: reload.cc, admin/ (control socket, metrics, status, --check-config).
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shared/config.h"
#include "shared/uv_handle.h"
#include "supervisor/admin/control.h"
#include "supervisor/admin/metrics.h"
#include "supervisor/admin/status.h"
#include "supervisor/bridge.h"
#include "supervisor/bridge_plan.h"
#include "supervisor/dead_letters.h"
#include "supervisor/router.h"
#include "supervisor/sources/leadership.h"
#include "supervisor/sources/notify_source.h"
#include "supervisor/sources/outbox_source.h"
#include "supervisor/sources/wal_source.h"

namespace pgep {

class Supervisor : public NotifySource::Listener,
                   public OutboxSource::Listener,
                   public WalSource::Listener,
                   public Bridge::Owner,
                   public DeadLetters::Listener,
                   public Control::Handler,
                   public Leadership::Listener {
 public:
  // `input` is where the configuration came from, read again on reload.
  Supervisor(uv_loop_t* loop, Config config, ConfigInput input, std::string worker_path);
  ~Supervisor() override;

  // Runs until stopped by a signal. Returns the process's exit status.
  int run();

 private:
  // NotifySource::Listener
  void on_notification(std::string_view channel, std::string_view payload) override;
  void on_notify_ready(bool ready) override;
  // OutboxSource::Listener
  Deliveries on_outbox_row(const std::string& id, std::string_view channel, std::string_view payload) override;
  // WalSource::Listener
  Deliveries on_wal_record(const std::string& routing_key, std::string_view body, const std::string& id,
                           bool transaction_record,
                           const std::function<bool(const std::string&)>& skip) override;
  void on_wal_ready(bool ready) override;
  void on_wal_fatal(const std::string& reason) override;
  // Bridge::Owner
  void on_acknowledged(Bridge& bridge) override;
  void on_worker_stopped(Bridge& bridge) override;
  void on_dead_letter(Bridge& bridge, ipc::Publish&& message, const std::string& error) override;
  // DeadLetters::Listener
  void on_dead_letter_written(const Ledger& ledger, uint64_t seq) override;
  // Leadership::Listener
  void on_active() override;
  void on_standby(const std::string& why) override;
  // Control::Handler
  std::string control_status() override;
  std::string control_stop() override;
  std::string control_restart(const std::string& bridge) override;
  std::string control_reload() override;

  bool ready() const;
  // Whether the sources are read: started, and active (holding the lock) or alone.
  bool forwarding() const { return started_ && (!leadership_ || leadership_->active()); }
  void start_sources();
  Snapshot snapshot() const;
  std::unique_ptr<Bridge> make_bridge(const std::string& name, const WantedBridge& wanted);
  void update_sources();
  std::unique_ptr<SlotStateStore> make_state_store();
  void update_backpressure();
  // reload.cc: read the configuration again and apply it; returns "" or why nothing changed.
  std::string reload();
  std::string unchangeable(const Config& next) const;
  void retire_if_drained(Bridge& bridge);
  void free_retired_soon();
  void free_retired();
  bool all_stopped() const;
  void watch_signal(UvHandle<uv_signal_t>& handle, int signal);
  void on_signal(int signal);
  void begin_shutdown(const std::string& why);
  void shutdown_soon(const std::string& why);
  size_t events_in_flight() const;
  void stop_workers();
  void finish();

  // Constant after construction.
  uv_loop_t* loop_;
  ConfigInput input_;
  std::string worker_path_;

  // Replaced by a reload.
  Config config_;
  std::vector<std::unique_ptr<Bridge>> bridges_;
  Router router_;
  std::vector<Bridge*> notify_bridges_;
  std::vector<Bridge*> wal_bridges_;
  std::vector<std::string> notify_channels_;
  // Bridges a reload removed: they finish what they hold, then stop, and are freed once no
  // source refers to their ledgers any more (free_retired).
  std::vector<std::unique_ptr<Bridge>> retired_;
  UvHandle<uv_timer_t> janitor_timer_;  // frees them outside their own callbacks
  UvHandle<uv_timer_t> retire_timer_;   // stops the ones still running shutdown_timeout after a reload
  UvHandle<uv_timer_t> watchdog_timer_; // every second: is some bridge stalled?

  // Sources, each present while some bridge reads it; and where what no broker takes goes.
  std::unique_ptr<NotifySource> notify_;
  std::unique_ptr<OutboxSource> outbox_;
  std::unique_ptr<WalSource> wal_;
  std::unique_ptr<Leadership> leadership_;  // with active_standby
  DeadLetters dead_letters_;
  bool notify_ready_ = false;
  bool wal_ready_ = false;
  EventsReceived received_;

  // The admin side.
  std::unique_ptr<Control> control_;
  std::unique_ptr<Metrics> metrics_;
  UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;

  // Starting and stopping.
  bool started_ = false;
  bool shutting_down_ = false;
  bool workers_stopping_ = false;
  int exit_status_ = 0;
  std::string shutdown_reason_;
  UvHandle<uv_timer_t> soon_timer_;      // a stop asked for from inside a callback
  UvHandle<uv_timer_t> deadline_timer_;  // shutdown_timeout
};

}  // namespace pgep
