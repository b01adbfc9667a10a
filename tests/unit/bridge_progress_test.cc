// Each bridge's acknowledged position, and skipping on a replay exactly what it acknowledged.
#include <catch2/catch.hpp>

#include "supervisor/sources/bridge_progress.h"
#include "tests/unit/ledger_helpers.h"

using pgep::BridgeProgress;
using pgep::Ledger;
using pgep::WalPosition;
using pgep::test::add;

namespace {
constexpr uint64_t kEnd = WalPosition::kEnd;
// T1 = (0x100: B, 1, 2, C at 0x180), T2 = (0x200: B, 1, C at 0x280), in stream order.
const WalPosition kStream[] = {{0x100, 0, 0}, {0x100, 1, 0}, {0x100, 2, 0}, {0x100, kEnd, 0x180},
                               {0x200, 0, 0}, {0x200, 1, 0}, {0x200, kEnd, 0x280}};
}  // namespace

TEST_CASE("a bridge's acknowledged position follows its ledger's acknowledgements") {
  Ledger fast(100, 1 << 20, "fast"), slow(100, 1 << 20, "slow");
  BridgeProgress progress;
  for (const WalPosition& p : kStream) {
    progress.routed({&fast, add(fast)}, p);
    progress.routed({&slow, add(slow)}, p);
  }
  CHECK_FALSE(progress.advance());
  fast.acknowledge(6);
  slow.acknowledge(2);
  CHECK(progress.advance());
  CHECK(progress.acknowledged().at("fast") == kStream[5]);
  CHECK(progress.acknowledged().at("slow") == kStream[1]);
  CHECK(progress.refers_to(slow));
  fast.acknowledge(7);
  slow.acknowledge(7);
  progress.advance();
  CHECK_FALSE(progress.refers_to(fast));
  CHECK(progress.acknowledged().at("fast") == kStream[6]);
}

TEST_CASE("after a restart each bridge skips the replay up to what it acknowledged, and no further") {
  BridgeProgress progress;
  // The slot resumes before T1 (the slow bridge held it); fast had acknowledged T2's first change.
  progress.resume({{"fast", kStream[5]}, {"slow", kStream[1]}}, 0x80);
  std::vector<int> fast_gets, slow_gets;
  for (int i = 0; i < 7; ++i) {
    if (!progress.skip("fast", kStream[i])) fast_gets.push_back(i);
    if (!progress.skip("slow", kStream[i])) slow_gets.push_back(i);
    CHECK_FALSE(progress.skip("new", kStream[i]));  // a bridge with nothing saved gets everything
  }
  CHECK(fast_gets == std::vector<int>{6});
  CHECK(slow_gets == std::vector<int>{2, 3, 4, 5, 6});
  CHECK(progress.skipped() == 6 + 2);
  CHECK_FALSE(progress.skipping());
}

TEST_CASE("a saved whole unit the slot does not replay skips nothing") {
  BridgeProgress progress;
  progress.resume({{"fast", kStream[3]}}, 0x180);  // T1 ended at 0x180, where the slot resumes
  CHECK_FALSE(progress.skipping());
  CHECK_FALSE(progress.skip("fast", kStream[4]));
}

TEST_CASE("skipping stops if the stream passes the saved unit's end without showing it") {
  BridgeProgress progress;
  progress.resume({{"fast", {0x150, kEnd, 0x190}}}, 0x80);  // a unit the replay does not contain
  CHECK(progress.skip("fast", kStream[0]));
  CHECK(progress.skip("fast", kStream[2]));
  CHECK(progress.skip("fast", kStream[3]));   // T1 ends at 0x180, before 0x190: still before it
  CHECK_FALSE(progress.skip("fast", kStream[4]));  // T2 begins at 0x200, after 0x190: past it, sent
  CHECK_FALSE(progress.skipping());
  CHECK_FALSE(progress.skip("fast", kStream[5]));
}
