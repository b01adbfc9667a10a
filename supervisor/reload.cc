// Reload (pgep-ctl reload or SIGHUP): the file and the environment are read and checked again;
// on any error the running configuration stays and the error goes back to pgep-ctl. Otherwise
// added bridges start, removed ones stop holding the sources at once and finish what they hold
// within shutdown_timeout, changed ones restart with their unacknowledged events resent, and
// untouched ones keep their worker. The slot position is kept: the WAL source goes on unless no
// bridge reads the WAL any more.
#include <algorithm>

#include "shared/log.h"
#include "supervisor/unverified_peers.h"
#include "supervisor/supervisor.h"

namespace pgep {

// What a running pgep cannot change without a restart.
std::string Supervisor::unchangeable(const Config& next) const {
  std::string changed;
  auto check = [&](const std::string& key, const std::string& before, const std::string& after) {
    if (before != after) changed += (changed.empty() ? "" : ", ") + key;
  };
  check("[database] uri", config_.database.uri, next.database.uri);
  check("[database] replication_slot", config_.database.replication_slot, next.database.replication_slot);
  check("[database] wal2json_params", config_.database.values.at("wal2json_params"),
        next.database.values.at("wal2json_params"));
  for (const char* key : {"control_socket", "metrics_listen", "state_directory", "state_file", "state_table", "ledger_max_events", "ledger_max_bytes",
                          "log_output", "pid_file", "active_standby", "takeover_timeout"}) {
    check(std::string("[pgep] ") + key, config_.daemon.values.at(key), next.daemon.values.at(key));
  }
  return changed.empty() ? "" : changed + " changed: that needs a restart of pgep";
}

std::string Supervisor::reload() {
  if (shutting_down_) return "pgep is stopping";
  ConfigInput input = ConfigInput::from_process(input_.file);
  ConfigResult result = load_config(input);
  if (!result.ok()) return result.describe("; ");
  std::string problem = unchangeable(result.config);
  if (!problem.empty()) return problem;
  for (const std::string& warning : unverified_peers(result.config, input)) log_warn("reload: " + warning);

  BridgePlan wanted = plan_bridges(result.config);
  size_t added = 0, removed = 0, changed = 0, kept = 0;
  std::vector<std::unique_ptr<Bridge>> active;
  for (auto& bridge : bridges_) {
    auto found = wanted.find(bridge->name());
    if (found == wanted.end()) {
      ++removed;
      log_info("reload: bridge " + bridge->name() + " removed; it stops once its " +
               std::to_string(bridge->ledger().size()) + " event(s) in flight are confirmed, or in " +
               std::to_string(config_.daemon.shutdown_timeout_ms) + " ms; the sources no longer wait for it");
      // What it has not acknowledged stays in PostgreSQL (slot, outbox) for the bridges that
      // still want it: the sources stop waiting for this one now, whatever becomes of it.
      if (wal_) wal_->forget(bridge->ledger());
      if (outbox_) outbox_->forget(bridge->ledger());
      retired_.push_back(std::move(bridge));
      continue;
    }
    if (!same_worker_settings(found->second.settings, bridge->worker().settings())) {
      ++changed;
      log_info("reload: bridge " + bridge->name() + " changed; its worker restarts");
      bridge->worker().reconfigure(found->second.settings);
    } else {
      ++kept;
    }
    wanted.erase(found);
    active.push_back(std::move(bridge));
  }
  config_ = std::move(result.config);
  log_setup("pgep", config_.daemon.log_level, config_.daemon.log_format, config_.daemon.log_output);
  for (auto& [name, bridge] : wanted) {
    ++added;
    log_info("reload: bridge " + name + " added");
    active.push_back(make_bridge(name, bridge));
    active.back()->start();
  }
  bridges_ = std::move(active);
  update_sources();
  update_backpressure();  // a removed bridge may have been the one with a full ledger
  for (auto& bridge : retired_) retire_if_drained(*bridge);
  if (removed > 0) {
    uv_timer_start(retire_timer_.get(), [](uv_timer_t* t) {
      auto* self = static_cast<Supervisor*>(t->data);
      for (auto& bridge : self->retired_) bridge->worker().shutdown(kWorkerExitMs);  // stuck: stop it
    }, config_.daemon.shutdown_timeout_ms, 0);
  }
  log_info("reloaded: " + std::to_string(added) + " bridge(s) added, " + std::to_string(removed) + " removed, " +
           std::to_string(changed) + " changed, " + std::to_string(kept) + " untouched");
  return "";
}

void Supervisor::retire_if_drained(Bridge& bridge) {
  if (shutting_down_ || !bridge.ledger().empty() || bridge.worker().stopped()) return;
  for (const auto& retired : retired_) {
    if (retired.get() == &bridge) return bridge.worker().shutdown(kWorkerExitMs);
  }
}

void Supervisor::free_retired_soon() {
  if (retired_.empty()) return;
  uv_timer_start(janitor_timer_.get(), [](uv_timer_t* t) { static_cast<Supervisor*>(t->data)->free_retired(); }, 0, 0);
}

// nginx's rule for old cycles: a retired bridge is freed once its worker stopped and no source
// still counts on its ledger (a WAL transaction or an outbox row it was part of).
void Supervisor::free_retired() {
  auto unused = [this](const std::unique_ptr<Bridge>& bridge) {
    const Ledger& ledger = bridge->ledger();
    return bridge->worker().stopped() && !(wal_ && wal_->refers_to(ledger)) && !(outbox_ && outbox_->refers_to(ledger)) &&
           !dead_letters_.refers_to(ledger);
  };
  size_t before = retired_.size();
  retired_.erase(std::remove_if(retired_.begin(), retired_.end(), unused), retired_.end());
  if (retired_.size() < before) log_debug("freed " + std::to_string(before - retired_.size()) + " retired bridge(s)");
}

}  // namespace pgep
