// The frames supervisor and workers exchange over their socketpair. On the wire a frame is a
// 4-byte big-endian length followed by that many bytes of one msgpack array whose first
// element is the frame type. This file and frame_codec.cc are the only code that knows it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

namespace pgep::ipc {

inline constexpr uint32_t kProtocolVersion = 1;
// No frame may be larger: a body is at most 8000 bytes for NOTIFY, wal2json changes can be
// large (a row with big columns), 64 MiB bounds what one frame may make the reader allocate.
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;
inline constexpr size_t kLengthBytes = 4;

enum class FrameType : uint8_t {
  Hello = 1,      // worker -> supervisor, first frame
  Configure = 2,  // supervisor -> worker, answers Hello
  Publish = 3,    // supervisor -> worker
  Ack = 4,        // worker -> supervisor: every seq up to this one is confirmed by the broker
  Nack = 5,       // worker -> supervisor: seq failed
  Stats = 6,      // worker -> supervisor: counters
  Shutdown = 7,   // supervisor -> worker: finish what is in flight and exit
};

struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  uint32_t pid = 0;
};

struct Configure {
  std::string bridge;                           // "upstream/channel->kind:target"
  std::map<std::string, std::string> settings;  // the upstream's options plus the bridge's
};

struct Publish {
  uint64_t seq = 0;
  std::string routing_key;  // AMQP routing key, or MQTT / Redis topic
  std::string body;
  std::string message_id;
  uint64_t timestamp_us = 0;                   // when the source read the event
  std::map<std::string, std::string> headers;  // e.g. the PostgreSQL channel
};

struct Ack {
  uint64_t seq = 0;
};

struct Nack {
  uint64_t seq = 0;
  std::string error;
  bool retryable = true;
};

struct Stats {
  std::map<std::string, uint64_t> counters;
};

struct Shutdown {};

using Frame = std::variant<Hello, Configure, Publish, Ack, Nack, Stats, Shutdown>;

FrameType frame_type(const Frame& frame);
const char* frame_type_name(FrameType type);

}  // namespace pgep::ipc
