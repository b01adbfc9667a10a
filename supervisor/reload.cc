// Reload (pgep-ctl reload or SIGHUP): the file and the environment are read and checked again;
// on any error the running configuration stays and the error goes back to pgep-ctl. Otherwise
// added bridges start, removed ones finish what they hold and stop, changed ones restart with
// their unacknowledged events resent, and untouched ones keep their worker. The slot position
// is kept: the WAL source goes on unless no bridge reads the WAL any more.
#include <unistd.h>

#include "shared/log.h"
#include "supervisor/supervisor.h"

namespace pgep {

namespace {

constexpr uint64_t kRetiredWorkerExitMs = 3000;

// Whether a bridge's settings changed, its log settings aside: a new log level alone does not
// restart every worker (workers take it at their next start).
bool same_settings(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  auto without_logs = [](std::map<std::string, std::string> m) {
    for (auto it = m.begin(); it != m.end();) it = it->first.rfind("log_", 0) == 0 ? m.erase(it) : std::next(it);
    return m;
  };
  return without_logs(a) == without_logs(b);
}

}  // namespace

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
  for (const char* key : {"control_socket", "metrics_listen", "state_file", "ledger_max_events", "ledger_max_bytes",
                          "log_output", "pid_file"}) {
    check(std::string("[pgep] ") + key, config_.daemon.values.at(key), next.daemon.values.at(key));
  }
  return changed.empty() ? "" : changed + " changed: that needs a restart of pgep";
}

std::string Supervisor::reload() {
  if (shutting_down_) return "pgep is stopping";
  ConfigInput input{input_.file, process_environment(), static_cast<unsigned>(getuid())};
  ConfigResult result = load_config(input);
  if (!result.ok()) {
    std::string errors;
    for (const ConfigError& error : result.errors) errors += (errors.empty() ? "" : "; ") + error.to_string();
    return errors;
  }
  std::string problem = unchangeable(result.config);
  if (!problem.empty()) return problem;

  auto wanted = wanted_bridges(result.config);
  size_t added = 0, removed = 0, changed = 0, kept = 0;
  std::vector<std::unique_ptr<BridgeWorker>> active;
  for (auto& bridge : bridges_) {
    auto found = wanted.find(bridge->name());
    if (found == wanted.end()) {
      ++removed;
      log_info("reload: bridge " + bridge->name() + " removed; it stops once its " +
               std::to_string(bridge->ledger().size()) + " event(s) in flight are confirmed");
      retired_.push_back(std::move(bridge));
      continue;
    }
    if (!same_settings(found->second.second, bridge->settings())) {
      ++changed;
      log_info("reload: bridge " + bridge->name() + " changed; its worker restarts");
      bridge->reconfigure(found->second.second);
    } else {
      ++kept;
    }
    wanted.erase(found);
    active.push_back(std::move(bridge));
  }
  config_ = std::move(result.config);
  log_setup("pgep", config_.daemon.log_level, config_.daemon.log_format, config_.daemon.log_output);
  for (auto& [name, spec_and_settings] : wanted) {
    ++added;
    log_info("reload: bridge " + name + " added");
    active.push_back(make_bridge(name, spec_and_settings.first, spec_and_settings.second));
    active.back()->start();
  }
  bridges_ = std::move(active);
  update_sources();
  for (auto& bridge : retired_) retire_if_drained(*bridge);
  log_info("reloaded: " + std::to_string(added) + " bridge(s) added, " + std::to_string(removed) + " removed, " +
           std::to_string(changed) + " changed, " + std::to_string(kept) + " untouched");
  return "";
}

void Supervisor::retire_if_drained(BridgeWorker& bridge) {
  if (shutting_down_ || !bridge.ledger().empty() || bridge.stopped()) return;
  for (const auto& retired : retired_) {
    if (retired.get() == &bridge) return bridge.shutdown(kRetiredWorkerExitMs);
  }
}

}  // namespace pgep
