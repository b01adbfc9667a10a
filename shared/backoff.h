// Capped exponential backoff for every retry in pgep: reconnecting to PostgreSQL or a broker,
// restarting a worker. Doubling from `initial` to `max`, with up to 20% jitter so that many
// workers that lost one broker together do not all knock at the same instant.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

namespace pgep {

class Backoff {
 public:
  explicit Backoff(uint64_t initial_ms = 100, uint64_t max_ms = 10000)
      : initial_ms_(initial_ms), max_ms_(max_ms), next_ms_(initial_ms) {}

  // The delay before the next attempt; each call doubles the following one, up to the cap.
  uint64_t next() {
    uint64_t delay = next_ms_;
    next_ms_ = std::min(max_ms_, next_ms_ * 2);
    std::uniform_int_distribution<uint64_t> jitter(0, delay / 5);
    return delay + jitter(random_);
  }

  // After a success: the next failure starts again from the initial delay.
  void reset() { next_ms_ = initial_ms_; }

 private:
  uint64_t initial_ms_;
  uint64_t max_ms_;
  uint64_t next_ms_;
  std::minstd_rand random_{std::random_device{}()};
};

}  // namespace pgep
