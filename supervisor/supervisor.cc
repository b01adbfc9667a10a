#include "supervisor/supervisor.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "shared/json_writer.h"
#include "shared/log.h"
#include "supervisor/sources/wal_state_file.h"
#include "supervisor/sources/wal_state_table.h"

namespace pgep {

Supervisor::Supervisor(uv_loop_t* loop, Config config, ConfigInput input, std::string worker_path)
    : loop_(loop),
      input_(std::move(input)),
      worker_path_(std::move(worker_path)),
      config_(std::move(config)),
      janitor_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      retire_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      watchdog_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      dead_letters_(loop, config_.database.uri, *this),
      soon_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      deadline_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  janitor_timer_.get()->data = this;
  retire_timer_.get()->data = this;
  watchdog_timer_.get()->data = this;
  soon_timer_.get()->data = this;
  deadline_timer_.get()->data = this;
  for (auto& [name, wanted] : plan_bridges(config_)) bridges_.push_back(make_bridge(name, wanted));
  if (config_.daemon.active_standby) {
    leadership_ = std::make_unique<Leadership>(loop_, config_.database.uri, config_.database.replication_slot,
                                               config_.daemon.takeover_timeout_ms, *this);
  }
  update_sources();
}

std::unique_ptr<Bridge> Supervisor::make_bridge(const std::string& name, const WantedBridge& wanted) {
  return std::make_unique<Bridge>(loop_, name, wanted.spec, wanted.settings, config_.daemon.ledger_max_events,
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
  // One LISTEN session for as long as some bridge reads a channel: a reload changes only its
  // channels, so untouched ones lose nothing.
  if (channels.empty()) {
    notify_.reset();
    notify_ready_ = false;
  } else if (!notify_) {
    notify_ = std::make_unique<NotifySource>(loop_, config_.database.uri, channels, *this);
    if (forwarding()) notify_->start();
  } else if (channels != notify_channels_) {
    notify_->set_channels(channels);
  }
  notify_channels_ = channels;
  if (channels.empty()) {
    outbox_.reset();
  } else if (!outbox_) {
    outbox_ = std::make_unique<OutboxSource>(loop_, config_.database.uri, channels, *this);
    if (leadership_ && leadership_->active()) outbox_->set_guard(leadership_->holder_condition());
    if (forwarding()) outbox_->start();
  } else {
    outbox_->set_channels(channels);
  }
  if (wal_bridges_.empty() && wal_) {
    wal_->send_status();
    wal_.reset();
    wal_ready_ = false;
  } else if (!wal_bridges_.empty() && !wal_) {
    wal_ = std::make_unique<WalSource>(loop_, config_.database, make_state_store(), *this);
    if (forwarding()) wal_->start();
  }
}

// Where the slot's state is kept: a file on this host, or a table of the database (state_table).
std::unique_ptr<SlotStateStore> Supervisor::make_state_store() {
  if (!config_.daemon.state_table.empty()) {
    return std::make_unique<WalStateTable>(loop_, config_.database.uri, config_.daemon.state_table);
  }
  return std::make_unique<WalStateFile>(config_.daemon.state_file, config_.daemon.state_directory,
                                        /*alone=*/!config_.daemon.active_standby);
}

Supervisor::~Supervisor() = default;

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
    metrics_ = std::make_unique<Metrics>(loop_, [this] { return metrics_text(snapshot()); }, [this] {
      if (!ready()) return std::string();
      return std::string(leadership_ && !leadership_->active() ? "standby" : "ready");
    });
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
  uv_timer_start(watchdog_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Supervisor*>(t->data);
    if (self->shutting_down_) return;  // shutdown_timeout bounds the wait then
    for (auto& bridge : self->bridges_) bridge->check_stall();
  }, 1000, 1000);
  if (leadership_) {
    leadership_->start();  // the sources start once it holds the lock
  } else {
    start_sources();
  }
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_status_;
}

void Supervisor::start_sources() {
  if (notify_) notify_->start();
  if (outbox_) outbox_->start();
  if (wal_) wal_->start();
}

void Supervisor::on_active() {
  if (shutting_down_) return;
  if (outbox_) outbox_->set_guard(leadership_->holder_condition());
  start_sources();
}

// Before anything else: no source reads on, and what the workers hold is dropped, not
// published: the pgep that takes over reads it again from the slot and the outbox (nothing of
// it was confirmed there). Notifications sent meanwhile are lost, as they are for any listener
// that is not connected.
void Supervisor::on_standby(const std::string&) {
  notify_.reset();
  outbox_.reset();
  wal_.reset();
  notify_ready_ = false;
  wal_ready_ = false;
  for (auto& bridge : bridges_) bridge->abandon();
  for (auto& bridge : retired_) bridge->abandon();
  if (shutting_down_) {
    // Nothing is left to confirm. From the loop, not from inside the lock session's callback:
    // stop_workers() frees the Leadership this call comes from.
    uv_timer_start(soon_timer_.get(), [](uv_timer_t* t) { static_cast<Supervisor*>(t->data)->stop_workers(); }, 0, 0);
    return;
  }
  update_sources();  // made again, to start when this pgep holds the lock again
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

bool any_full(const std::vector<Bridge*>& bridges) {
  return std::any_of(bridges.begin(), bridges.end(), [](Bridge* b) { return b->ledger().full(); });
}

bool all_below_low_water(const std::vector<Bridge*>& bridges) {
  return std::all_of(bridges.begin(), bridges.end(), [](Bridge* b) { return b->ledger().below_low_water(); });
}

}  // namespace

void Supervisor::on_notification(std::string_view channel, std::string_view payload) {
  if (log_enabled(LogLevel::Debug)) {
    log_debug("NOTIFY on \"" + std::string(channel) + "\" (" + std::to_string(payload.size()) + " bytes)");
  }
  ++received_.notify;
  router_.route_notification(channel, payload);
  if (any_full(notify_bridges_)) notify_->pause();
}

void Supervisor::on_notify_ready(bool ready) { notify_ready_ = ready; }

Deliveries Supervisor::on_outbox_row(const std::string& id, std::string_view channel, std::string_view payload) {
  ++received_.outbox;
  Deliveries routed = router_.route_payload(channel, payload, id);
  if (any_full(notify_bridges_)) outbox_->pause();
  return routed;
}

Deliveries Supervisor::on_wal_record(const std::string& routing_key, std::string_view body, const std::string& id,
                                     bool transaction_record, const std::function<bool(const std::string&)>& skip) {
  ++received_.wal;
  Deliveries routed = router_.route_wal(routing_key, body, id, transaction_record, skip);
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
  uv_timer_start(soon_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Supervisor*>(t->data);
    self->begin_shutdown(self->shutdown_reason_);
  }, 0, 0);
}

void Supervisor::on_acknowledged(Bridge& bridge) {
  retire_if_drained(bridge);
  if (wal_) wal_->on_acknowledged();
  if (outbox_) outbox_->on_acknowledged();
  free_retired_soon();
  if (shutting_down_) {
    if (events_in_flight() == 0) stop_workers();
    return;
  }
  update_backpressure();
}

// Pauses a source while a bridge it feeds has a full ledger, resumes it once all are below
// their low water; after acknowledgements, and after a reload changed which bridges there are.
void Supervisor::update_backpressure() {
  if (notify_ && any_full(notify_bridges_)) notify_->pause();
  if (outbox_ && any_full(notify_bridges_)) outbox_->pause();
  if (wal_ && any_full(wal_bridges_)) wal_->pause();
  if (notify_ && all_below_low_water(notify_bridges_)) notify_->resume();
  if (outbox_ && all_below_low_water(notify_bridges_)) outbox_->resume();
  if (wal_ && all_below_low_water(wal_bridges_)) wal_->resume();
}

void Supervisor::on_dead_letter(Bridge& bridge, ipc::Publish&& message, const std::string& error) {
  dead_letters_.add(bridge.ledger(), bridge.name(), std::move(message), error);
}

void Supervisor::on_dead_letter_written(const Ledger& ledger, uint64_t seq) {
  for (auto* bridges : {&bridges_, &retired_}) {
    for (auto& bridge : *bridges) {
      if (&bridge->ledger() == &ledger) return bridge->dead_letter_written(seq);
    }
  }
}

// Events not yet confirmed by a broker or written as dead letters.
size_t Supervisor::events_in_flight() const {
  size_t total = dead_letters_.pending();
  for (const auto& bridge : bridges_) total += bridge->ledger().size();
  for (const auto& bridge : retired_) total += bridge->ledger().size();
  return total;
}

void Supervisor::begin_shutdown(const std::string& why) {
  shutting_down_ = true;
  notify_.reset();  // read nothing more
  if (outbox_) outbox_->pause();  // but go on deleting what is acknowledged
  if (wal_) wal_->pause("");  // the connection stays, to confirm what is acknowledged meanwhile
  size_t in_flight = events_in_flight();
  log_info(why + ": stopping; waiting up to " + std::to_string(config_.daemon.shutdown_timeout_ms) + " ms for " +
           std::to_string(in_flight) + " event(s) in flight");
  if (in_flight == 0) return stop_workers();
  uv_timer_start(deadline_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<Supervisor*>(t->data);
    log_warn("shutdown_timeout passed with " + std::to_string(self->events_in_flight()) +
             " event(s) unconfirmed by their brokers");
    self->stop_workers();
  }, config_.daemon.shutdown_timeout_ms, 0);
}

void Supervisor::stop_workers() {
  if (workers_stopping_) return;
  workers_stopping_ = true;
  uv_timer_stop(deadline_timer_.get());
  outbox_.reset();
  if (wal_) {
    wal_->on_acknowledged();
    wal_->send_status();  // the last position all bridges acknowledged
    wal_.reset();
  }
  leadership_.reset();  // the lock goes: a standby may take over now
  for (auto& bridge : bridges_) bridge->worker().shutdown(kWorkerExitMs);
  for (auto& bridge : retired_) bridge->worker().shutdown(kWorkerExitMs);
  if (all_stopped()) finish();
}

bool Supervisor::all_stopped() const {
  auto stopped = [](const auto& b) { return b->worker().stopped(); };
  return std::all_of(bridges_.begin(), bridges_.end(), stopped) && std::all_of(retired_.begin(), retired_.end(), stopped);
}

void Supervisor::on_worker_stopped(Bridge&) {
  free_retired_soon();
  if (workers_stopping_ && all_stopped()) finish();
}

// Ready: every LISTEN and START_REPLICATION succeeded and every worker has its broker and is
// not stalled.
bool Supervisor::ready() const {
  if (shutting_down_) return false;
  bool standby = leadership_ && !leadership_->active();  // a standby is ready when its workers are
  if (!standby && ((notify_ && !notify_ready_) || (wal_ && !wal_ready_))) return false;
  return std::all_of(bridges_.begin(), bridges_.end(),
                     [](const auto& b) { return b->worker().broker_connected() && !b->stalled(); });
}

Snapshot Supervisor::snapshot() const {
  Snapshot s;
  s.pid = static_cast<uint64_t>(getpid());
  s.role = !leadership_ ? "single" : leadership_->active() ? "active" : "standby";
  s.takeovers = leadership_ ? leadership_->takeovers() : 0;
  s.ready = ready();
  s.stopping = shutting_down_;
  s.notify_listening = notify_ready_;
  s.received = received_;
  for (const auto& bridge : bridges_) s.bridges.push_back(bridge->snapshot());
  for (const auto& bridge : retired_) {  // until they are gone
    s.bridges.push_back(bridge->snapshot());
    s.bridges.back().retired = true;
  }
  if (wal_) {
    s.replication = ReplicationSnapshot{wal_->slot(), wal_ready_, wal_->flush_lsn(),
                                        std::max(wal_->server_wal_end(), wal_->flush_lsn())};
  }
  return s;
}

std::string Supervisor::control_status() { return status_json(snapshot()); }

std::string Supervisor::control_stop() {
  shutdown_soon("pgep-ctl stop");
  return JsonObject().add("ok", true).add("message", "stopping").str();
}

std::string Supervisor::control_restart(const std::string& name) {
  for (auto& bridge : bridges_) {
    if (bridge->name() == name) {
      if (!bridge->worker().restart()) {
        return JsonObject()
            .add("ok", false)
            .add("error", "the bridge " + name + " has no worker to restart (it is " +
                              worker_state_name(bridge->worker().state()) + ")")
            .str();
      }
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
  janitor_timer_.reset();
  retire_timer_.reset();
  watchdog_timer_.reset();
  soon_timer_.reset();
  deadline_timer_.reset();
  uv_stop(loop_);
}

}  // namespace pgep
