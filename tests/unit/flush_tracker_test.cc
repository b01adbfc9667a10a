// The flush rule: never past an unacknowledged event; follow the server when idle.
#include <catch2/catch.hpp>

#include "supervisor/sources/flush_tracker.h"
#include "tests/unit/ledger_helpers.h"

using pgep::FlushTracker;
using pgep::Ledger;
using pgep::test::add;

TEST_CASE("the flush LSN waits for every bridge of a transaction, in commit order") {
  Ledger a(100, 1 << 20), b(100, 1 << 20);
  FlushTracker tracker;
  tracker.reset(100);

  tracker.begin();
  tracker.routed({&a, add(a)});
  uint64_t b1 = add(b);
  tracker.routed({&b, b1});
  tracker.commit(200);
  tracker.begin();
  uint64_t a2 = add(a);
  tracker.routed({&a, a2});
  tracker.commit(300);
  CHECK(tracker.flush_lsn() == 100);

  a.acknowledge(a2);  // a is done with both; b still owes the first transaction
  CHECK(!tracker.advance());
  CHECK(tracker.flush_lsn() == 100);
  CHECK(!tracker.server_wal_end(400));  // pending work pins the flush position

  b.acknowledge(b1);
  CHECK(tracker.advance());
  CHECK(tracker.flush_lsn() == 300);
  CHECK(tracker.pending_transactions() == 0);
  CHECK(tracker.server_wal_end(400));
  CHECK(tracker.flush_lsn() == 400);
}

TEST_CASE("a transaction no bridge took is confirmed at once; an open one pins the position") {
  FlushTracker tracker;
  tracker.reset(10);
  tracker.begin();
  tracker.commit(20);
  CHECK(tracker.flush_lsn() == 20);
  tracker.begin();
  CHECK(!tracker.server_wal_end(50));
  tracker.commit(40);
  CHECK(tracker.flush_lsn() == 40);
  CHECK(tracker.server_wal_end(50));
  CHECK(!tracker.server_wal_end(45));  // never backwards
  CHECK(tracker.flush_lsn() == 50);
}

TEST_CASE("a record outside any transaction holds the flush position until it is acknowledged") {
  // No begin/commit records ("include-transaction" '0'), or a non-transactional logical message:
  // WalSource makes each such record a unit of its own at its LSN.
  Ledger a(100, 1 << 20);
  FlushTracker tracker;
  tracker.reset(100);
  tracker.begin();
  uint64_t seq = add(a);
  tracker.routed({&a, seq});
  tracker.commit(150);
  CHECK_FALSE(tracker.server_wal_end(400));  // a keepalive does not pass it
  CHECK(tracker.flush_lsn() == 100);
  CHECK(tracker.refers_to(a));
  a.acknowledge(seq);
  CHECK(tracker.advance());
  CHECK(tracker.flush_lsn() == 150);  // its own LSN: a replay from there sends it again
  CHECK(tracker.server_wal_end(400));
  CHECK(tracker.flush_lsn() == 400);
}
