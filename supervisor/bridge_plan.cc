#include "supervisor/bridge_plan.h"

#include "shared/settings.h"

namespace pgep {

namespace {

std::map<std::string, std::string> worker_settings(const Config& config, const UpstreamSettings& upstream,
                                                   const BridgeSpec& spec) {
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

}  // namespace

BridgePlan plan_bridges(const Config& config) {
  BridgePlan plan;
  for (const UpstreamSettings& upstream : config.upstreams) {
    for (const BridgeSpec& spec : upstream.bridges) {
      plan[upstream.name + "/" + spec.text()] = {spec, worker_settings(config, upstream, spec)};
    }
  }
  return plan;
}

bool same_worker_settings(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  auto without_logs = [](std::map<std::string, std::string> m) {
    for (auto it = m.begin(); it != m.end();) it = it->first.rfind("log_", 0) == 0 ? m.erase(it) : std::next(it);
    return m;
  };
  return without_logs(a) == without_logs(b);
}

}  // namespace pgep
