// How an event's routing key or topic is derived (pg-event-proxy's conventions).
#pragma once

#include <string>
#include <string_view>

#include "shared/bridge_spec.h"

namespace pgep {

struct SplitPayload {
  std::string_view key;   // before the first '|'; empty when there is none
  std::string_view body;  // after the first '|'; the whole payload when there is none
};

// A notification payload "key|body" is split on the first '|' only.
SplitPayload split_payload(std::string_view payload);

// The AMQP routing key, or the MQTT / Redis topic, a message with `key` is published with:
//   exchange: the key, byte for byte;  queue: the queue's name (default exchange);
//   topic: the target, or "target.key" when the key is not empty.
std::string destination_for(const BridgeSpec& bridge, std::string_view key);

}  // namespace pgep
