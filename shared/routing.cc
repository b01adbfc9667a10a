#include "shared/routing.h"

namespace pgep {

SplitPayload split_payload(std::string_view payload) {
  size_t bar = payload.find('|');
  if (bar == std::string_view::npos) return {std::string_view(), payload};
  return {payload.substr(0, bar), payload.substr(bar + 1)};
}

std::string destination_for(const BridgeSpec& bridge, std::string_view key) {
  switch (bridge.kind) {
    case TargetKind::Exchange:
    case TargetKind::Path:  // a webhook carries the key in a header; the path is the bridge's
    case TargetKind::SnsTopic:  // the AWS kinds carry it beside the message
    case TargetKind::SqsQueue:
    case TargetKind::Function:
    case TargetKind::KafkaTopic:  // the key is the message's key
    case TargetKind::Stream:  // the worker names the stream (stream_per_key) and keeps the key as a field
      return std::string(key);
    case TargetKind::Queue:
      return bridge.target;
    case TargetKind::Topic:
    case TargetKind::Subject:
      if (key.empty()) return bridge.target;
      std::string topic;
      topic.reserve(bridge.target.size() + 1 + key.size());
      topic.append(bridge.target).append(".").append(key);
      return topic;
  }
  return std::string(key);
}

}  // namespace pgep
