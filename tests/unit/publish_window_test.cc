// The worker's window: at most `limit` unconfirmed, cumulative acks of the confirmed prefix,
// everything unconfirmed published again after a reconnect.
#include <catch2/catch.hpp>

#include <vector>

#include "workers/publish_window.h"

using pgep::PublishWindow;
using pgep::ipc::Publish;

namespace {

Publish message(uint64_t seq) { return Publish{seq, "key", "body", "id-" + std::to_string(seq), 0, {}}; }

// The seqs next() hands out until it has none.
std::vector<uint64_t> drain(PublishWindow& window) {
  std::vector<uint64_t> seqs;
  while (const Publish* m = window.next()) seqs.push_back(m->seq);
  return seqs;
}

}  // namespace

TEST_CASE("the window publishes at most its limit before confirmations come") {
  PublishWindow window(3);
  for (uint64_t seq = 1; seq <= 5; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  CHECK(drain(window) == std::vector<uint64_t>{1, 2, 3});
  CHECK(window.in_flight() == 3);
  CHECK(window.confirm(1));
  CHECK(drain(window) == std::vector<uint64_t>{4});
  CHECK(window.take_confirmed_prefix() == 1u);
  CHECK(window.size() == 4);
}

TEST_CASE("the window acknowledges only the confirmed prefix, whatever the order of confirms") {
  PublishWindow window(10);
  for (uint64_t seq = 1; seq <= 4; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  drain(window);
  CHECK(window.confirm(3));
  CHECK(window.confirm(2));
  CHECK_FALSE(window.take_confirmed_prefix());  // 1 is still out
  CHECK(window.confirm(1));
  CHECK(window.take_confirmed_prefix() == 3u);   // 1, 2 and 3 at once
  CHECK(window.size() == 1);
  CHECK_FALSE(window.confirm(2));  // gone already
  CHECK_FALSE(window.confirm(99));  // never seen
  CHECK(window.confirm(4));
  CHECK_FALSE(window.confirm(4));  // twice
  CHECK(window.take_confirmed_prefix() == 4u);
  CHECK(window.empty());
}

TEST_CASE("after a reconnect the window publishes again what is unconfirmed, in order, and skips what is") {
  PublishWindow window(10);
  for (uint64_t seq = 1; seq <= 4; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  drain(window);
  CHECK(window.confirm(2));  // confirmed out of order before the connection was lost
  window.restart();
  CHECK(window.in_flight() == 0);
  CHECK(drain(window) == std::vector<uint64_t>{1, 3, 4});
}

TEST_CASE("the window refuses a seq not above the last one") {
  PublishWindow window;
  REQUIRE_FALSE(window.add(message(5)));
  auto error = window.add(message(5));
  REQUIRE(error);
  CHECK(*error == "Publish seq 5 after 5");
  CHECK(window.add(message(4)));
  CHECK(window.size() == 1);
}

TEST_CASE("the window finds a message by seq for the log, and a limit of 0 means 1") {
  PublishWindow window(0);
  REQUIRE_FALSE(window.add(message(7)));
  REQUIRE_FALSE(window.add(message(9)));
  REQUIRE(window.find(9));
  CHECK(window.find(9)->message_id == "id-9");
  CHECK_FALSE(window.find(8));
  CHECK(drain(window) == std::vector<uint64_t>{7});
}

TEST_CASE("a refused message is held apart and published again alone; the others go on") {
  PublishWindow window(10);
  for (uint64_t seq = 1; seq <= 5; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  drain(window);
  CHECK(window.confirm(1));
  CHECK(window.refuse(2));
  CHECK_FALSE(window.refuse(2));  // once
  CHECK_FALSE(window.refuse(1));  // confirmed already
  CHECK(window.confirm(3));
  CHECK(window.confirm(4));
  CHECK(window.take_confirmed_prefix() == 1u);  // 2 holds the acknowledgement back
  CHECK(window.in_flight() == 1);                 // 5
  CHECK(window.has_refused());
  auto again = window.take_refused();
  REQUIRE(again.size() == 1);
  CHECK(again[0]->seq == 2);
  CHECK(window.in_flight() == 2);
  CHECK(drain(window).empty());  // nothing else is published again
  CHECK(window.confirm(2));
  CHECK(window.confirm(5));
  CHECK(window.take_confirmed_prefix() == 5u);
}

TEST_CASE("after a reconnection a refused message goes again in order with the unconfirmed ones") {
  PublishWindow window(10);
  for (uint64_t seq = 1; seq <= 3; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  drain(window);
  CHECK(window.refuse(2));
  window.restart();
  CHECK_FALSE(window.has_refused());
  CHECK(drain(window) == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("after a loss with messages in flight the first unconfirmed one goes out alone") {
  PublishWindow window(10);
  for (uint64_t seq = 1; seq <= 4; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  CHECK(drain(window) == std::vector<uint64_t>{1, 2, 3, 4});
  CHECK(window.confirm(1));
  window.restart(/*probe=*/true);
  CHECK(drain(window) == std::vector<uint64_t>{2});  // alone
  CHECK(window.probe_in_flight() == 2);
  window.restart(/*probe=*/true);                     // lost again over it
  CHECK(window.count_refusal(2) == 1);
  CHECK(drain(window) == std::vector<uint64_t>{2});
  CHECK(window.confirm(2));                           // it was not the culprit: the rest go on
  CHECK(window.probe_in_flight() == 0);
  CHECK(drain(window) == std::vector<uint64_t>{3, 4});
}

TEST_CASE("a message given up on counts as confirmed, so the acknowledgement passes it") {
  PublishWindow window(10);
  for (uint64_t seq = 1; seq <= 3; ++seq) REQUIRE_FALSE(window.add(message(seq)));
  drain(window);
  CHECK(window.refuse(1));
  CHECK(window.refusals(1) == 1);
  CHECK(window.give_up(1));
  CHECK_FALSE(window.has_refused());
  CHECK_FALSE(window.give_up(1));
  CHECK(window.take_confirmed_prefix() == uint64_t{1});
  CHECK(window.confirm(2));
  CHECK(window.take_confirmed_prefix() == uint64_t{2});
}
