// The supervisor: owns the configuration, the sources, the router, one BridgeWorker per bridge
// and the signals. Pauses a source while a bridge it feeds has a full ledger; on SIGTERM or
// SIGINT stops reading, waits (up to shutdown_timeout) for the brokers to confirm what is in
// flight, then stops the workers.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "shared/config.h"
#include "shared/uv_handle.h"
#include "supervisor/bridge_worker.h"
#include "supervisor/control.h"
#include "supervisor/metrics.h"
#include "supervisor/notify_source.h"
#include "supervisor/outbox_source.h"
#include "supervisor/router.h"
#include "supervisor/wal_source.h"

namespace pgep {

class Supervisor : public NotifySource::Listener,
                   public OutboxSource::Listener,
                   public WalSource::Listener,
                   public BridgeWorker::Owner,
                   public Control::Handler {
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
  OutboxSource::Routed on_outbox_row(int64_t id, std::string_view channel, std::string_view payload) override;
  // WalSource::Listener
  WalSource::Routed on_wal_record(const std::string& routing_key, std::string_view body,
                                  const std::string& id) override;
  void on_wal_ready(bool ready) override;
  void on_wal_fatal(const std::string& reason) override;
  // BridgeWorker::Owner
  void on_acknowledged(BridgeWorker& bridge) override;
  void on_worker_stopped(BridgeWorker& bridge) override;

  // Control::Handler
  std::string control_status() override;
  std::string control_stop() override;
  std::string control_restart(const std::string& bridge) override;
  std::string control_reload() override;
  bool ready() const;
  std::string render_metrics() const;

  std::map<std::string, std::string> worker_settings(const Config& config, const UpstreamSettings& upstream,
                                                     const BridgeSpec& spec) const;
  std::map<std::string, std::pair<BridgeSpec, std::map<std::string, std::string>>> wanted_bridges(
      const Config& config) const;
  std::unique_ptr<BridgeWorker> make_bridge(const std::string& name, const BridgeSpec& spec,
                                            std::map<std::string, std::string> settings);
  void update_sources();
  // reload.cc: read the configuration again and apply it; returns "" or why nothing changed.
  std::string reload();
  std::string unchangeable(const Config& next) const;
  void retire_if_drained(BridgeWorker& bridge);
  bool all_stopped() const;
  void watch_signal(UvHandle<uv_signal_t>& handle, int signal);
  void on_signal(int signal);
  void begin_shutdown(const std::string& why);
  void shutdown_soon(const std::string& why);
  size_t events_in_flight() const;
  void stop_workers();
  void finish();

  uv_loop_t* loop_;
  Config config_;
  ConfigInput input_;
  std::string worker_path_;
  std::vector<std::unique_ptr<BridgeWorker>> bridges_;
  // Bridges a reload removed: they finish what they hold, then stop. They are kept (idle) until
  // pgep exits, since the WAL's flush tracker may still look at their ledgers.
  std::vector<std::unique_ptr<BridgeWorker>> retired_;
  std::vector<std::string> notify_channels_;
  bool started_ = false;
  std::vector<BridgeWorker*> notify_bridges_;
  std::vector<BridgeWorker*> wal_bridges_;
  Router router_;
  std::unique_ptr<NotifySource> notify_;
  std::unique_ptr<OutboxSource> outbox_;
  std::unique_ptr<WalSource> wal_;
  std::unique_ptr<Control> control_;
  std::unique_ptr<Metrics> metrics_;
  uint64_t received_notify_ = 0;
  uint64_t received_wal_ = 0;
  uint64_t received_outbox_ = 0;
  UvHandle<uv_signal_t> sigterm_, sigint_, sighup_;
  UvHandle<uv_timer_t> shutdown_timer_;
  bool shutting_down_ = false;
  bool notify_ready_ = false;
  bool wal_ready_ = false;
  bool workers_stopping_ = false;
  int exit_status_ = 0;
  std::string shutdown_reason_;
};

}  // namespace pgep
