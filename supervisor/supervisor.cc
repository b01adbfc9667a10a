#include "supervisor/supervisor.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "shared/json_writer.h"
#include "shared/log.h"
#include "shared/lsn.h"
#include "shared/settings.h"

namespace pgep {

namespace {
// After the ledgers drained (or shutdown_timeout passed), how long a worker has to exit.
constexpr uint64_t kWorkerExitMs = 3000;
}  // namespace

Supervisor::Supervisor(uv_loop_t* loop, Config config, ConfigInput input, std::string worker_path)
    : loop_(loop),
      config_(std::move(config)),
      input_(std::move(input)),
      worker_path_(std::move(worker_path)),
      shutdown_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  shutdown_timer_.get()->data = this;
  for (auto& [name, wanted] : wanted_bridges(config_)) {
    bridges_.push_back(make_bridge(name, wanted.first, wanted.second));
  }
  update_sources();
}

std::map<std::string, std::pair<BridgeSpec, std::map<std::string, std::string>>> Supervisor::wanted_bridges(
    const Config& config) const {
  std::map<std::string, std::pair<BridgeSpec, std::map<std::string, std::string>>> wanted;
  for (const UpstreamSettings& upstream : config.upstreams) {
    for (const BridgeSpec& spec : upstream.bridges) {
      wanted[upstream.name + "/" + spec.text()] = {spec, worker_settings(config, upstream, spec)};
    }
  }
  return wanted;
}

std::unique_ptr<BridgeWorker> Supervisor::make_bridge(const std::string& name, const BridgeSpec& spec,
                                                      std::map<std::string, std::string> settings) {
  return std::make_unique<BridgeWorker>(loop_, name, spec, std::move(settings), config_.daemon.ledger_max_events,
                                        config_.daemon.ledger_max_bytes, worker_path_, *this);
}

// Routes the active bridges and makes the sources match them: a NOTIFY source and the outbox
// when some bridge reads a channel, the WAL source when some bridge reads wal2json.
void Supervisor::update_sources() {
  router_.clear();
  for (const auto& bridge : bridges_) router_.add(bridge->spec(), *bridge);
  notify_bridges_ = router_.notify_bridges();
  wal_bridges_ = router_.wal_bridges();
  std::vector<std::string> channels = router_.notify_channels();
  if (channels != notify_channels_) {
    notify_channels_ = channels;
    notify_.reset();
    notify_ready_ = false;
    if (!channels.empty()) {
      notify_ = std::make_unique<NotifySource>(loop_, config_.database.uri, channels, *this);
      if (started_) notify_->start();
    }
  }
  if (channels.empty()) {
    outbox_.reset();
  } else if (!outbox_) {
    outbox_ = std::make_unique<OutboxSource>(loop_, config_.database.uri, *this);
    if (started_) outbox_->start();
  }
  if (wal_bridges_.empty() && wal_) {
    wal_->send_status(/*last=*/true);
    wal_.reset();
    wal_ready_ = false;
  } else if (!wal_bridges_.empty() && !wal_) {
    wal_ = std::make_unique<WalSource>(loop_, config_.database, config_.daemon.state_file, *this);
    if (started_) wal_->start();
  }
}

Supervisor::~Supervisor() = default;

std::map<std::string, std::string> Supervisor::worker_settings(const Config& config, const UpstreamSettings& upstream,
                                                               const BridgeSpec& spec) const {
  std::map<std::string, std::string> settings = upstream.options;
  // A worker has one bridge: the upstream's whole list is not its business (and a reload that
  // edits the list must not look like a change to every bridge of the upstream).
  settings.erase("bridge_channels");
  settings[kSettingUpstream] = upstream.name;
  settings[kSettingChannel] = spec.channel;
  settings[kSettingTargetKind] = target_kind_name(spec.kind);
  settings[kSettingTarget] = spec.target;
  for (const char* key : {"log_level", "log_format", "log_output", "log_messages"}) {
    settings[key] = config.daemon.values.at(key);
  }
  return settings;
}

int Supervisor::run() {
  watch_signal(sigterm_, SIGTERM);
  watch_signal(sigint_, SIGINT);
  watch_signal(sighup_, SIGHUP);
  control_ = std::make_unique<Control>(loop_, config_.daemon.control_socket, *this);
  std::string problem = control_->start();
  if (!problem.empty()) {
    log_error(problem);
    return 1;
  }
  if (!config_.daemon.metrics_listen.empty()) {
    metrics_ = std::make_unique<Metrics>(loop_, [this] { return render_metrics(); }, [this] { return ready(); });
    problem = metrics_->start(config_.daemon.metrics_listen);
    if (!problem.empty()) {
      log_error(problem);
      return 1;
    }
  }
  log_info("starting " + std::to_string(bridges_.size()) + " bridge(s); control socket " + config_.daemon.control_socket +
           (metrics_ ? "; metrics on http://" + config_.daemon.metrics_listen + "/metrics" : ""));
  started_ = true;
  for (auto& bridge : bridges_) bridge->start();
  if (notify_) notify_->start();
  if (outbox_) outbox_->start();
  if (wal_) wal_->start();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_status_;
}

void Supervisor::watch_signal(UvHandle<uv_signal_t>& handle, int signal) {
  handle = UvHandle<uv_signal_t>([this](uv_signal_t* s) { return uv_signal_init(loop_, s); });
  handle.get()->data = this;
  uv_signal_start(handle.get(), [](uv_signal_t* s, int signum) {
    if (s->data) static_cast<Supervisor*>(s->data)->on_signal(signum);
  }, signal);
}

void Supervisor::on_signal(int signal) {
  if (signal == SIGHUP) {
    std::string problem = reload();
    if (!problem.empty()) log_error("SIGHUP: reload refused, the running configuration stays: " + problem);
    return;
  }
  if (shutting_down_) {
    log_warn("second stop signal: stopping the workers now");
    return stop_workers();
  }
  begin_shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
}

namespace {

bool any_full(const std::vector<BridgeWorker*>& bridges) {
  return std::any_of(bridges.begin(), bridges.end(), [](BridgeWorker* b) { return b->ledger().full(); });
}

bool all_below_low_water(const std::vector<BridgeWorker*>& bridges) {
  return std::all_of(bridges.begin(), bridges.end(), [](BridgeWorker* b) { return b->ledger().below_low_water(); });
}

}  // namespace

void Supervisor::on_notification(std::string_view channel, std::string_view payload) {
  if (log_enabled(LogLevel::Debug)) {
    log_debug("NOTIFY on \"" + std::string(channel) + "\" (" + std::to_string(payload.size()) + " bytes)");
  }
  ++received_notify_;
  router_.route_notification(channel, payload);
  if (any_full(notify_bridges_)) notify_->pause();
}

void Supervisor::on_notify_ready(bool ready) { notify_ready_ = ready; }

OutboxSource::Routed Supervisor::on_outbox_row(int64_t id, std::string_view channel, std::string_view payload) {
  ++received_outbox_;
  OutboxSource::Routed routed = router_.route_payload(channel, payload, "outbox-" + std::to_string(id));
  if (any_full(notify_bridges_)) outbox_->pause();
  return routed;
}

WalSource::Routed Supervisor::on_wal_record(const std::string& routing_key, std::string_view body,
                                            const std::string& id) {
  ++received_wal_;
  WalSource::Routed routed = router_.route_wal(routing_key, body, id);
  if (any_full(wal_bridges_)) wal_->pause();
  return routed;
}

void Supervisor::on_wal_ready(bool ready) { wal_ready_ = ready; }

void Supervisor::on_wal_fatal(const std::string& reason) {
  log_error("WAL: " + reason + "; stopping");
  exit_status_ = 1;
  shutdown_soon("a WAL error");
}

// Stopping destroys the sources and the control socket, so a stop asked for from inside one of
// their callbacks begins on the next turn of the loop.
void Supervisor::shutdown_soon(const std::string& why) {
  if (shutting_down_) return;
  shutdown_reason_ = why;
  uv_timer_start(shutdown_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Supervisor*>(t->data);
    self->begin_shutdown(self->shutdown_reason_);
  }, 0, 0);
}

void Supervisor::on_acknowledged(BridgeWorker& bridge) {
  retire_if_drained(bridge);
  if (wal_) wal_->on_acknowledged();
  if (outbox_) outbox_->on_acknowledged();
  if (shutting_down_) {
    if (events_in_flight() == 0) stop_workers();
    return;
  }
  if (notify_ && all_below_low_water(notify_bridges_)) notify_->resume();
  if (outbox_ && all_below_low_water(notify_bridges_)) outbox_->resume();
  if (wal_ && all_below_low_water(wal_bridges_)) wal_->resume();
}

size_t Supervisor::events_in_flight() const {
  size_t total = 0;
  for (const auto& bridge : bridges_) total += bridge->ledger().size();
  for (const auto& bridge : retired_) total += bridge->ledger().size();
  return total;
}

void Supervisor::begin_shutdown(const std::string& why) {
  shutting_down_ = true;
  notify_.reset();  // read nothing more
  if (outbox_) outbox_->pause();  // but go on deleting what is acknowledged
  if (wal_) wal_->pause();  // the connection stays, to confirm what is acknowledged meanwhile
  size_t in_flight = events_in_flight();
  log_info(why + ": stopping; waiting up to " + std::to_string(config_.daemon.shutdown_timeout_ms) + " ms for " +
           std::to_string(in_flight) + " event(s) in flight");
  if (in_flight == 0) return stop_workers();
  uv_timer_start(shutdown_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Supervisor*>(t->data);
    log_warn("shutdown_timeout passed with " + std::to_string(self->events_in_flight()) +
             " event(s) unconfirmed by their brokers");
    self->stop_workers();
  }, config_.daemon.shutdown_timeout_ms, 0);
}

void Supervisor::stop_workers() {
  if (workers_stopping_) return;
  workers_stopping_ = true;
  uv_timer_stop(shutdown_timer_.get());
  outbox_.reset();
  if (wal_) {
    wal_->on_acknowledged();
    wal_->send_status(/*last=*/true);  // the last position all bridges acknowledged
    wal_.reset();
  }
  for (auto& bridge : bridges_) bridge->shutdown(kWorkerExitMs);
  for (auto& bridge : retired_) bridge->shutdown(kWorkerExitMs);
  if (all_stopped()) finish();
}

bool Supervisor::all_stopped() const {
  auto stopped = [](const auto& b) { return b->stopped(); };
  return std::all_of(bridges_.begin(), bridges_.end(), stopped) && std::all_of(retired_.begin(), retired_.end(), stopped);
}

void Supervisor::on_worker_stopped(BridgeWorker&) {
  if (workers_stopping_ && all_stopped()) finish();
}

// Ready: every LISTEN and START_REPLICATION succeeded and every worker has its broker.
bool Supervisor::ready() const {
  if (shutting_down_ || (notify_ && !notify_ready_) || (wal_ && !wal_ready_)) return false;
  return std::all_of(bridges_.begin(), bridges_.end(), [](const auto& b) { return b->broker_connected(); });
}

std::string Supervisor::control_status() {
  std::string bridges = "[";
  for (const auto& bridge : bridges_) bridges += (bridges.size() > 1 ? "," : "") + bridge->status_json();
  bridges += "]";
  JsonObject status;
  status.add("ok", true).add("pid", static_cast<uint64_t>(getpid())).add("ready", ready());
  status.add("stopping", shutting_down_).add("notify_listening", notify_ready_).add_raw("bridges", bridges);
  if (wal_) {
    uint64_t end = std::max(wal_->server_wal_end(), wal_->flush_lsn());
    status.add_raw("replication", JsonObject()
                                      .add("slot", wal_->slot())
                                      .add("streaming", wal_ready_)
                                      .add("confirmed_lsn", format_lsn(wal_->flush_lsn()))
                                      .add("server_wal_end", format_lsn(end))
                                      .add("lag_bytes", end - wal_->flush_lsn())
                                      .str());
  }
  return status.str();
}

std::string Supervisor::render_metrics() const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&](const char* name, const std::string& labels, uint64_t value) {
    out += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  };
  family("pgep_ready", "gauge", "1 when every LISTEN and START_REPLICATION succeeded and every worker has its broker");
  sample("pgep_ready", "", ready() ? 1 : 0);
  family("pgep_events_received_total", "counter", "Events read from PostgreSQL, by source");
  sample("pgep_events_received_total", "source=\"notify\"", received_notify_);
  sample("pgep_events_received_total", "source=\"wal\"", received_wal_);
  sample("pgep_events_received_total", "source=\"outbox\"", received_outbox_);
  struct Column {
    const char* name;
    const char* type;
    const char* help;
    std::function<uint64_t(const BridgeWorker&)> value;
  };
  auto stat = [](const BridgeWorker& b, const char* key) {
    return b.worker_stats().count(key) ? b.worker_stats().at(key) : uint64_t{0};
  };
  const Column columns[] = {
      {"pgep_bridge_published_total", "counter", "Messages the worker published (resends included)",
       [&](const BridgeWorker& b) { return stat(b, "published"); }},
      {"pgep_bridge_acknowledged_total", "counter", "Events the broker confirmed",
       [](const BridgeWorker& b) { return b.ledger().last_acknowledged(); }},
      {"pgep_bridge_failed_total", "counter", "Messages refused or dropped as unroutable by the current worker",
       [&](const BridgeWorker& b) { return stat(b, "unroutable") + stat(b, "refused"); }},
      {"pgep_bridge_in_flight", "gauge", "Events waiting for the broker's confirmation",
       [](const BridgeWorker& b) { return static_cast<uint64_t>(b.ledger().size()); }},
      {"pgep_bridge_in_flight_bytes", "gauge", "Bytes of the events waiting in the ledger",
       [](const BridgeWorker& b) { return b.ledger().bytes(); }},
      {"pgep_worker_restarts_total", "counter", "Times the bridge's worker was restarted",
       [](const BridgeWorker& b) { return b.restarts(); }},
      {"pgep_broker_connected", "gauge", "1 when the bridge's worker is connected to its broker",
       [](const BridgeWorker& b) { return uint64_t{b.broker_connected() ? 1u : 0u}; }},
  };
  for (const Column& column : columns) {
    family(column.name, column.type, column.help);
    for (const auto& bridge : bridges_) sample(column.name, "bridge=" + Metrics::label(bridge->name()), column.value(*bridge));
  }
  if (wal_) {
    uint64_t end = std::max(wal_->server_wal_end(), wal_->flush_lsn());
    std::string slot = "slot=" + Metrics::label(wal_->slot());
    family("pgep_replication_lag_bytes", "gauge", "WAL between the server's end and the position pgep confirmed");
    sample("pgep_replication_lag_bytes", slot, end - wal_->flush_lsn());
    family("pgep_replication_confirmed_lsn", "gauge", "The WAL position pgep confirmed, as a number");
    sample("pgep_replication_confirmed_lsn", slot, wal_->flush_lsn());
  }
  return out;
}

std::string Supervisor::control_stop() {
  shutdown_soon("pgep-ctl stop");
  return JsonObject().add("ok", true).add("message", "stopping").str();
}

std::string Supervisor::control_restart(const std::string& name) {
  for (auto& bridge : bridges_) {
    if (bridge->name() == name) {
      bridge->restart();
      return JsonObject().add("ok", true).add("message", "restarting the worker of " + name).str();
    }
  }
  std::string names;
  for (const auto& bridge : bridges_) names += (names.empty() ? "" : ", ") + bridge->name();
  return JsonObject().add("ok", false).add("error", "no bridge \"" + name + "\"; the bridges are: " + names).str();
}

std::string Supervisor::control_reload() {
  std::string problem = reload();
  if (!problem.empty()) {
    return JsonObject().add("ok", false).add("error", "reload refused, the running configuration stays: " + problem).str();
  }
  return JsonObject().add("ok", true).add("message", "reloaded").str();
}

void Supervisor::finish() {
  log_info("stopped");
  control_.reset();
  metrics_.reset();
  sigterm_.reset();
  sigint_.reset();
  sighup_.reset();
  shutdown_timer_.reset();
  uv_stop(loop_);
}

}  // namespace pgep
