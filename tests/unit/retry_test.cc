// The reconnect rule on a real libuv loop: attempts come after the backoff, a failure is worth
// a log line once per change of state, and a success starts the backoff afresh.
#include <catch2/catch.hpp>

#include <uv.h>

#include "shared/retry.h"

using pgep::Backoff;
using pgep::Retry;

namespace {

// A loop of the test's own, closed (with whatever the Retry left) when the test ends.
struct Loop {
  uv_loop_t loop{};
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

}  // namespace

TEST_CASE("a retry attempts again after the backoff's delay, from the loop") {
  Loop loop;
  int attempts = 0;
  {
    Retry retry(&loop.loop, Backoff(20, 1000), [&] { ++attempts; });
    (void)retry.failed("refused", false);
    CHECK(attempts == 0);  // never from inside failed()
    CHECK(retry.scheduled());
    CHECK(retry.delay_ms() >= 20);
    CHECK(retry.delay_ms() <= 24);  // at most 20 % jitter
    uint64_t before = uv_now(&loop.loop);
    loop.run();
    CHECK(attempts == 1);
    CHECK(uv_now(&loop.loop) - before >= 20);
    CHECK_FALSE(retry.scheduled());
  }
}

TEST_CASE("a retry logs once per change of state, not once per attempt") {
  Loop loop;
  Retry retry(&loop.loop, Backoff(1, 4), [] {});
  CHECK(retry.failed("connection refused", false));        // the first failure
  CHECK_FALSE(retry.failed("connection refused", false));  // the same again
  CHECK_FALSE(retry.failed("connection refused", false));
  CHECK(retry.failed("password authentication failed", false));  // a new reason
  CHECK(retry.last_error() == "password authentication failed");
  retry.succeeded();
  CHECK(retry.last_error().empty());
  CHECK(retry.failed("password authentication failed", true));  // lost after working
  CHECK(retry.failed("password authentication failed", true));  // was_up always counts
  retry.cancel();
}

TEST_CASE("a retry's delays double up to the cap and start afresh after a success") {
  Loop loop;
  Retry retry(&loop.loop, Backoff(100, 400), [] {});
  std::vector<uint64_t> delays;
  for (int i = 0; i < 4; ++i) {
    (void)retry.failed("down", false);
    delays.push_back(retry.delay_ms());
  }
  CHECK(delays[0] >= 100);
  CHECK(delays[0] <= 120);
  CHECK(delays[1] >= 200);
  CHECK(delays[2] >= 400);
  CHECK(delays[3] >= 400);
  CHECK(delays[3] <= 480);  // capped
  retry.succeeded();
  (void)retry.failed("down", false);
  CHECK(retry.delay_ms() <= 120);
  retry.cancel();
  CHECK_FALSE(retry.scheduled());
}

TEST_CASE("retry_now attempts on the next turn of the loop and keeps the backoff") {
  Loop loop;
  int attempts = 0;
  Retry retry(&loop.loop, Backoff(100, 400), [&] { ++attempts; });
  (void)retry.failed("down", false);
  (void)retry.failed("down", false);
  retry.retry_now();
  CHECK(retry.delay_ms() == 0);
  loop.run();
  CHECK(attempts == 1);
  (void)retry.failed("down", false);
  CHECK(retry.delay_ms() >= 400);  // the third failure: the backoff went on doubling
  retry.cancel();
}

TEST_CASE("a retry destroyed with an attempt pending never calls it") {
  Loop loop;
  int attempts = 0;
  {
    Retry retry(&loop.loop, Backoff(1, 1), [&] { ++attempts; });
    (void)retry.failed("down", false);
  }
  loop.run();
  CHECK(attempts == 0);
}
