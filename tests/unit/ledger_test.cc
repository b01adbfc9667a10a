// The ledger: sequence numbers, cumulative acknowledgement, bounds and low water.
#include <catch2/catch.hpp>

#include "supervisor/ledger.h"

using pgep::Ledger;
using pgep::ipc::Publish;

namespace {
Publish event(size_t body_bytes) { return Publish{0, "key", std::string(body_bytes, 'b'), "id", 0, {}}; }
}  // namespace

TEST_CASE("the ledger numbers events from 1 and drops them on cumulative acks") {
  Ledger ledger(100, 1 << 20);
  CHECK(ledger.append(event(10)) == 1);
  CHECK(ledger.append(event(10)) == 2);
  CHECK(ledger.append(event(10)) == 3);
  CHECK(ledger.acknowledge(2) == 2);
  CHECK(ledger.size() == 1);
  CHECK(ledger.entries().front().seq == 3);
  CHECK(ledger.acknowledge(2) == 0);  // a repeated ack changes nothing
  CHECK(ledger.acknowledge(3) == 1);
  CHECK(ledger.empty());
  CHECK(ledger.bytes() == 0);
  CHECK(ledger.append(event(1)) == 4);  // numbering goes on
  CHECK(ledger.last_acknowledged() == 3);
}

TEST_CASE("the ledger is full at either bound and resumes below half of both") {
  Ledger by_count(4, 1 << 20);
  for (int i = 0; i < 3; ++i) by_count.append(event(1));
  CHECK(!by_count.full());
  by_count.append(event(1));
  CHECK(by_count.full());
  by_count.acknowledge(1);
  CHECK(!by_count.full());
  CHECK(!by_count.below_low_water());
  by_count.acknowledge(2);
  CHECK(by_count.below_low_water());

  Ledger by_bytes(1000, 10000);
  by_bytes.append(event(9000));
  CHECK(!by_bytes.full());
  by_bytes.append(event(2000));
  CHECK(by_bytes.full());
  by_bytes.acknowledge(1);
  CHECK(!by_bytes.full());
  CHECK(by_bytes.below_low_water());
}

TEST_CASE("a dead letter's seq is held: the acknowledged mark stops before it until it is released") {
  Ledger ledger(100, 1 << 20);
  ledger.append(event(10));                    // 1
  uint64_t oversize = ledger.append_held();    // 2, never an entry
  ledger.append(event(10));                    // 3
  ledger.append(event(10));                    // 4
  CHECK(oversize == 2);
  CHECK(ledger.size() == 3);
  CHECK(ledger.acknowledge(4) == 3);           // the worker confirmed 1, 3 and 4
  CHECK(ledger.last_acknowledged() == 1);      // 2 is not written yet
  ledger.release(2);
  CHECK(ledger.last_acknowledged() == 4);
}

TEST_CASE("an entry the worker gave up on leaves the entries and is held until released") {
  Ledger ledger(100, 1 << 20);
  for (int i = 0; i < 4; ++i) ledger.append(event(10));
  CHECK(ledger.acknowledge(1) == 1);
  Publish taken;
  CHECK(ledger.take(3, taken));
  CHECK(taken.seq == 3);
  CHECK_FALSE(ledger.take(3, taken));  // once
  CHECK_FALSE(ledger.take(1, taken));  // acknowledged already
  CHECK(ledger.size() == 2);           // 2 and 4
  CHECK(ledger.holds(3));
  CHECK(ledger.acknowledge(4) == 2);
  CHECK(ledger.last_acknowledged() == 2);
  ledger.release(3);
  CHECK(ledger.last_acknowledged() == 4);
  CHECK(ledger.bytes() == 0);
}
