// What a configuration asks for: every bridge by name ("upstream/pg_channel->kind:target"),
// with the settings its worker is told in its Configure frame. Start-up builds the bridges
// from it; a reload compares it with the running bridges (reload.cc).
#pragma once

#include <map>
#include <string>

#include "shared/bridge_spec.h"
#include "shared/config.h"

namespace pgep {

struct WantedBridge {
  BridgeSpec spec;
  std::map<std::string, std::string> settings;
};
using BridgePlan = std::map<std::string, WantedBridge>;

BridgePlan plan_bridges(const Config& config);

// Whether a bridge's settings changed, its log settings aside: a new log level alone does not
// restart every worker (workers take it at their next start).
bool same_worker_settings(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b);

}  // namespace pgep
