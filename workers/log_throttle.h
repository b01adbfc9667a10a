// Says a thing that repeats once per key and interval, with how often it happened meanwhile:
// a broker that drops every message of a routing key must not write a log line per message
// (issue 13: 10,000 "unroutable" lines per 100,000 rows). Keys are bounded: the oldest go first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace pgep {

class LogThrottle {
 public:
  explicit LogThrottle(uint64_t interval_ms = 60000, size_t max_keys = 1024)
      : interval_ms_(interval_ms), max_keys_(max_keys) {}

  // True when a line for `key` is due at `now_ms`; then `suppressed` is how many times it
  // happened since the last line for `key` without being said.
  bool due(const std::string& key, uint64_t now_ms, uint64_t& suppressed);

 private:
  struct Seen {
    uint64_t said_ms = 0;
    uint64_t suppressed = 0;
  };
  void forget_old(uint64_t now_ms);

  uint64_t interval_ms_;
  size_t max_keys_;
  std::unordered_map<std::string, Seen> seen_;
};

}  // namespace pgep
