#include "supervisor/bridge.h"

namespace pgep {

Bridge::Bridge(uv_loop_t* loop, std::string name, BridgeSpec spec, std::map<std::string, std::string> settings,
               uint64_t max_events, uint64_t max_bytes, std::string worker_path, Owner& owner)
    : name_(std::move(name)),
      spec_(std::move(spec)),
      owner_(owner),
      ledger_(max_events, max_bytes, name_),
      worker_(loop, name_, std::move(settings), ledger_, std::move(worker_path), *this) {}

Delivery Bridge::submit(ipc::Publish&& message) {
  Delivery delivery{&ledger_, ledger_.append(std::move(message))};
  worker_.pump();
  return delivery;
}

BridgeSnapshot Bridge::snapshot() const {
  BridgeSnapshot s;
  s.name = name_;
  s.state = worker_.state();
  s.pid = static_cast<uint64_t>(worker_.pid() > 0 ? worker_.pid() : 0);
  s.broker_connected = worker_.broker_connected();
  s.in_flight = ledger_.size();
  s.in_flight_bytes = ledger_.bytes();
  s.published = worker_.stat("published");
  s.acknowledged = ledger_.last_acknowledged();
  s.unroutable = worker_.stat("unroutable");
  s.refused = worker_.stat("refused");
  s.restarts = worker_.restarts();
  s.last_error = worker_.last_error();
  return s;
}

}  // namespace pgep
