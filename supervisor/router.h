// The router: finds every bridge whose PostgreSQL channel an event came on, derives its
// routing key or topic (pg-event-proxy's conventions, shared/routing.h) and hands each bridge
// its own copy of the event.
//
// Called by: the supervisor, for each event a source read. Calls: Bridge::submit, which never
// fails (a full ledger still takes the event; the supervisor then pauses the source). Holds
// raw pointers to the bridges it was given: the supervisor clears it before a bridge goes.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/bridge_spec.h"
#include "supervisor/bridge.h"

namespace pgep {

class Router {
 public:
  Router();

  void add(const BridgeSpec& spec, Bridge& bridge);
  // Forgets every route (a reload adds the new set); ids go on counting.
  void clear() { routes_.clear(); }
  // The NOTIFY channels some bridge reads, each once, sorted.
  std::vector<std::string> notify_channels() const;
  // The bridges fed by NOTIFY, and those fed by the WAL.
  std::vector<Bridge*> notify_bridges() const;
  std::vector<Bridge*> wal_bridges() const;

  // A notification "key|body" on `channel`.
  void route_notification(std::string_view channel, std::string_view payload);
  // A durable message (an outbox row) "key|body" for `channel`, with its own id.
  Deliveries route_payload(std::string_view channel, std::string_view payload, const std::string& id);
  // A wal2json record with its routing key and id; returns where it went (ledger, seq). A
  // bridge for which `skip(name)` is true does not get it, nor a transaction record (begin,
  // commit) a bridge with wal_transaction_records = false.
  Deliveries route_wal(const std::string& key, std::string_view body, const std::string& id,
                       bool transaction_record = false, const std::function<bool(const std::string&)>& skip = {});

 private:
  struct Route {
    BridgeSpec spec;
    Bridge* bridge;
  };
  std::string next_message_id();
  Delivery submit(const Route& route, std::string_view channel, std::string_view key, std::string_view body,
                  const std::string& id, uint64_t timestamp);

  std::unordered_map<std::string, std::vector<Route>> routes_;
  std::string id_prefix_;  // unique to this supervisor's run
  uint64_t counter_ = 0;
};

}  // namespace pgep
