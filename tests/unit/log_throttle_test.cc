// One log line per key and interval, with the count of what was not said (workers/log_throttle.h).
#include <catch2/catch.hpp>

#include "workers/log_throttle.h"

TEST_CASE("a repeated thing is said once per key and interval, then with its count") {
  pgep::LogThrottle throttle(60000, 4);
  uint64_t suppressed = 99;
  CHECK(throttle.due("a", 1000, suppressed));
  CHECK(suppressed == 0);
  for (int i = 0; i < 500; ++i) CHECK_FALSE(throttle.due("a", 1000 + i, suppressed));
  CHECK(throttle.due("b", 2000, suppressed));  // another key is said at once
  CHECK_FALSE(throttle.due("a", 60999, suppressed));
  CHECK(throttle.due("a", 61000, suppressed));
  CHECK(suppressed == 501);
  CHECK_FALSE(throttle.due("a", 61001, suppressed));
}

TEST_CASE("the keys a throttle remembers are bounded") {
  pgep::LogThrottle throttle(60000, 4);
  uint64_t suppressed = 0;
  for (int key = 0; key < 1000; ++key) CHECK(throttle.due("k" + std::to_string(key), 5, suppressed));
  // The newest keys are still throttled; the map never grew beyond its bound to tell.
  CHECK_FALSE(throttle.due("k999", 6, suppressed));
}
