// Outbox rows are deleted when every bridge they went to acknowledged them, in routing order,
// and a drain skips rows routed already.
#include <catch2/catch.hpp>

#include <vector>

#include "supervisor/sources/outbox_tracker.h"
#include "tests/unit/ledger_helpers.h"

using pgep::Ledger;
using pgep::OutboxTracker;
using pgep::test::add;

TEST_CASE("an outbox row is deleted only once every bridge it went to acknowledged it") {
  Ledger a(100, 1 << 20), b(100, 1 << 20);
  OutboxTracker tracker;
  REQUIRE(tracker.is_new(7));
  tracker.routed(7, {{&a, add(a)}, {&b, add(b)}});
  tracker.advance();
  CHECK_FALSE(tracker.has_deletions());
  a.acknowledge(1);
  tracker.advance();
  CHECK_FALSE(tracker.has_deletions());
  CHECK(tracker.refers_to(b));
  b.acknowledge(1);
  tracker.advance();
  CHECK(tracker.take_deletions() == std::vector<int64_t>{7});
  tracker.deletion_done(true);
  CHECK_FALSE(tracker.refers_to(a));
  CHECK(tracker.rows_in_flight() == 0);
}

TEST_CASE("outbox rows are deleted by id in routing order, whatever order their ids have") {
  Ledger a(100, 1 << 20);
  OutboxTracker tracker;
  for (int64_t id : {12, 10, 11}) {  // ids commit out of order
    REQUIRE(tracker.is_new(id));
    tracker.routed(id, {{&a, add(a)}});
  }
  a.acknowledge(2);
  tracker.advance();
  CHECK(tracker.take_deletions() == std::vector<int64_t>{12, 10});
  tracker.deletion_done(true);
  CHECK(tracker.rows_in_flight() == 1);
}

TEST_CASE("a row no bridge reads is deleted at once, and a drain skips rows not yet deleted") {
  Ledger a(100, 1 << 20);
  OutboxTracker tracker;
  REQUIRE(tracker.is_new(1));
  tracker.routed(1, {});
  REQUIRE(tracker.is_new(2));
  tracker.routed(2, {{&a, add(a)}});
  CHECK_FALSE(tracker.is_new(1));  // read again before its DELETE went out
  CHECK_FALSE(tracker.is_new(2));  // in flight
  CHECK(tracker.take_deletions() == std::vector<int64_t>{1});
  CHECK_FALSE(tracker.is_new(1));  // its DELETE is under way
  tracker.deletion_done(true);
  CHECK(tracker.is_new(1));  // deleted: if a drain still sees it, it is a new row to pgep
}

TEST_CASE("a failed DELETE keeps its rows known, to be deleted again, never routed again") {
  OutboxTracker tracker;
  REQUIRE(tracker.is_new(1));
  tracker.routed(1, {});
  REQUIRE(tracker.is_new(2));
  tracker.routed(2, {});
  CHECK(tracker.take_deletions() == std::vector<int64_t>{1, 2});
  tracker.deletion_done(false);  // permission denied, read-only, ...
  CHECK_FALSE(tracker.is_new(1));
  CHECK_FALSE(tracker.is_new(2));
  CHECK(tracker.has_deletions());
  CHECK(tracker.take_deletions() == std::vector<int64_t>{1, 2});
  tracker.deletion_done(true);
  CHECK_FALSE(tracker.has_deletions());
  CHECK(tracker.is_new(1));
}
