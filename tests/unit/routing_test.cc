// The payload split on the first '|' and the routing key / topic of each target kind.
#include <catch2/catch.hpp>

#include "shared/routing.h"

using pgep::BridgeSpec;
using pgep::TargetKind;

TEST_CASE("a payload is split on the first '|' only") {
  auto s = pgep::split_payload("signup|a|b|c");
  CHECK(s.key == "signup");
  CHECK(s.body == "a|b|c");
  auto none = pgep::split_payload("no key here");
  CHECK(none.key.empty());
  CHECK(none.body == "no key here");
  auto empty_key = pgep::split_payload("|body");
  CHECK(empty_key.key.empty());
  CHECK(empty_key.body == "body");
  auto empty_body = pgep::split_payload("key|");
  CHECK(empty_body.key == "key");
  CHECK(empty_body.body.empty());
  CHECK(pgep::split_payload("").body.empty());
}

TEST_CASE("routing keys and topics by target kind") {
  BridgeSpec exchange{"events", TargetKind::Exchange, "amq.topic"};
  BridgeSpec queue{"events", TargetKind::Queue, "jobs"};
  BridgeSpec topic{"events", TargetKind::Topic, "events"};
  CHECK(pgep::destination_for(exchange, "user.#.*") == "user.#.*");
  CHECK(pgep::destination_for(exchange, "").empty());
  CHECK(pgep::destination_for(exchange, "clé.ü") == "clé.ü");
  CHECK(pgep::destination_for(queue, "ignored") == "jobs");
  CHECK(pgep::destination_for(topic, "signup") == "events.signup");
  CHECK(pgep::destination_for(topic, "") == "events");
}
