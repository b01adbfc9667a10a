// The router: finds every bridge whose PostgreSQL channel an event came on, derives its
// routing key or topic (pg-event-proxy's conventions, shared/routing.h) and hands each bridge
// its own copy of the event.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/bridge.h"
#include "supervisor/bridge_worker.h"

namespace pgep {

class Router {
 public:
  Router();

  void add(const BridgeSpec& spec, BridgeWorker& bridge);
  // The NOTIFY channels some bridge reads, each once.
  std::vector<std::string> notify_channels() const;
  // The bridges fed by NOTIFY.
  std::vector<BridgeWorker*> notify_bridges() const;

  // A notification "key|body" on `channel`.
  void route_notification(std::string_view channel, std::string_view payload);

 private:
  struct Route {
    BridgeSpec spec;
    BridgeWorker* bridge;
  };
  std::string next_message_id();

  std::unordered_map<std::string, std::vector<Route>> routes_;
  std::string id_prefix_;  // unique to this supervisor's run
  uint64_t counter_ = 0;
};

}  // namespace pgep
