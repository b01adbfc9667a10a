// Event ids: the same on every replay from a transaction boundary, and distinct per cluster
// and database.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "supervisor/sources/event_ids.h"

using pgep::WalEventIds;

TEST_CASE("a replay from a transaction boundary gives every WAL event the id of its first delivery") {
  // The review's case: T1's commit ends where T2 begins, and T2's first change is at that LSN.
  constexpr uint64_t L = 0x1100;
  WalEventIds first;
  first.set_prefix("7:app:");
  first.begin(0x1000);
  first.change(0x1000);
  std::string t1_commit = first.commit(0x1100);
  std::vector<std::string> t2 = {first.begin(L), first.change(L), first.change(L), first.change(0x1200), first.commit(0x1300)};

  WalEventIds replay;  // a new pgep, resuming from T1's end
  replay.set_prefix("7:app:");
  std::vector<std::string> again = {replay.begin(L), replay.change(L), replay.change(L), replay.change(0x1200),
                                    replay.commit(0x1300)};
  CHECK(again == t2);
  CHECK(t2 == std::vector<std::string>{"7:app:0/1100:B", "7:app:0/1100:0", "7:app:0/1100:1", "7:app:0/1100:2",
                                       "7:app:0/1100:C"});
  CHECK(t1_commit == "7:app:0/1000:C");
}

TEST_CASE("records outside a transaction are numbered per LSN; format 1 has one id per transaction") {
  WalEventIds ids;
  ids.set_prefix("p:");
  CHECK(ids.lone(0x10) == "p:0/10:0");
  CHECK(ids.lone(0x10) == "p:0/10:1");  // one multi-row statement: its changes share an LSN
  CHECK(ids.lone(0x20) == "p:0/20:0");
  ids.restart();
  CHECK(ids.lone(0x20) == "p:0/20:0");  // a replay from that record
  CHECK(ids.whole_transaction(0x30) == "p:0/30:T");
}

TEST_CASE("ids carry the cluster and the database, encoded as one word each") {
  CHECK(pgep::event_id_prefix("7312345678901234567", "app") == "7312345678901234567:app:");
  CHECK(pgep::event_id_prefix("1", "my db:x") == "1:my%20db%3Ax:");
  CHECK(pgep::outbox_event_id("1:app:", 42) == "1:app:outbox:42");
  CHECK(pgep::event_id_prefix("1", "a") != pgep::event_id_prefix("2", "a"));
}
