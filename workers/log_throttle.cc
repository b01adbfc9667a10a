#include "workers/log_throttle.h"

namespace pgep {

bool LogThrottle::due(const std::string& key, uint64_t now_ms, uint64_t& suppressed) {
  auto found = seen_.find(key);
  if (found != seen_.end() && now_ms - found->second.said_ms < interval_ms_) {
    ++found->second.suppressed;
    return false;
  }
  if (found == seen_.end()) {
    if (seen_.size() >= max_keys_) forget_old(now_ms);
    found = seen_.emplace(key, Seen{}).first;
  }
  suppressed = found->second.suppressed;
  found->second = Seen{now_ms, 0};
  return true;
}

// Keys whose interval is over are said afresh anyway; what they had suppressed is lost from the
// next line's count, which the worker's counters (status, /metrics) still hold.
void LogThrottle::forget_old(uint64_t now_ms) {
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = now_ms - it->second.said_ms >= interval_ms_ ? seen_.erase(it) : std::next(it);
  }
  if (seen_.size() >= max_keys_) seen_.clear();  // all recent: start over rather than grow
}

}  // namespace pgep
