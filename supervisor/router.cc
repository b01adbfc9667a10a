#include "supervisor/router.h"

#include <sys/time.h>
#include <unistd.h>

#include <algorithm>

#include "shared/routing.h"

namespace pgep {

namespace {

uint64_t now_us() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<uint64_t>(tv.tv_sec) * 1000000 + static_cast<uint64_t>(tv.tv_usec);
}

}  // namespace

Router::Router() {
  // A notification has no identity of its own in PostgreSQL: its id is this run's start and a
  // counter. A resend after a worker restart carries the same id, so consumers can drop it.
  id_prefix_ = "n-" + std::to_string(now_us()) + "-" + std::to_string(getpid()) + "-";
}

void Router::add(const BridgeSpec& spec, Bridge& bridge) { routes_[spec.channel].push_back({spec, &bridge}); }

std::vector<std::string> Router::notify_channels() const {
  std::vector<std::string> channels;
  for (const auto& [channel, routes] : routes_) {
    if (channel != kWalChannel) channels.push_back(channel);
  }
  std::sort(channels.begin(), channels.end());  // a set: the map's order is no information
  return channels;
}

std::vector<Bridge*> Router::notify_bridges() const {
  std::vector<Bridge*> bridges;
  for (const auto& [channel, routes] : routes_) {
    if (channel == kWalChannel) continue;
    for (const Route& route : routes) bridges.push_back(route.bridge);
  }
  return bridges;
}

std::vector<Bridge*> Router::wal_bridges() const {
  std::vector<Bridge*> bridges;
  auto found = routes_.find(std::string(kWalChannel));
  if (found != routes_.end()) {
    for (const Route& route : found->second) bridges.push_back(route.bridge);
  }
  return bridges;
}

std::string Router::next_message_id() { return id_prefix_ + std::to_string(++counter_); }

Delivery Router::submit(const Route& route, std::string_view channel, std::string_view key, std::string_view body,
                        const std::string& id, uint64_t timestamp) {
  ipc::Publish message;
  message.routing_key = destination_for(route.spec, key);
  message.body = std::string(body);
  message.message_id = id;
  message.timestamp_us = timestamp;
  message.headers = {{"pg_channel", std::string(channel)}};
  return route.bridge->submit(std::move(message));
}

void Router::route_notification(std::string_view channel, std::string_view payload) {
  if (routes_.count(std::string(channel))) route_payload(channel, payload, next_message_id());
}

Deliveries Router::route_payload(std::string_view channel, std::string_view payload, const std::string& id) {
  Deliveries routed;
  auto found = routes_.find(std::string(channel));
  if (found == routes_.end() || channel == kWalChannel) return routed;
  SplitPayload split = split_payload(payload);
  uint64_t timestamp = now_us();
  for (const Route& route : found->second) {
    routed.push_back(submit(route, channel, split.key, split.body, id, timestamp));
  }
  return routed;
}

Deliveries Router::route_wal(const std::string& key, std::string_view body, const std::string& id,
                             bool transaction_record, const std::function<bool(const std::string&)>& skip) {
  Deliveries routed;
  auto found = routes_.find(std::string(kWalChannel));
  if (found == routes_.end()) return routed;
  uint64_t timestamp = now_us();
  for (const Route& route : found->second) {
    if (skip && skip(route.bridge->name())) continue;
    if (transaction_record && !route.bridge->wal_transaction_records()) continue;
    routed.push_back(submit(route, kWalChannel, key, body, id, timestamp));
  }
  return routed;
}

}  // namespace pgep
