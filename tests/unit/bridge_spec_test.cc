// bridge_channels: the target split on the first ':', spaces, duplicates, wal2json, and the
// target kinds each upstream accepts.
#include <catch2/catch.hpp>

#include "shared/bridge_spec.h"

using pgep::BridgeSpec;
using pgep::TargetKind;
using pgep::UpstreamKind;

namespace {

struct Parsed {
  std::vector<BridgeSpec> bridges;
  std::vector<std::string> errors;
};

Parsed parse(const std::string& text, UpstreamKind kind) {
  Parsed p;
  pgep::parse_bridge_channels(text, kind, p.bridges, p.errors);
  return p;
}

}  // namespace

TEST_CASE("bridge_channels: several entries, spaces around every part") {
  auto p = parse("  events -> exchange : amq.topic ,wal2json->queue:q1,  other->exchange:x  ",
                 UpstreamKind::Amqp);
  REQUIRE(p.errors.empty());
  REQUIRE(p.bridges.size() == 3);
  CHECK(p.bridges[0].channel == "events");
  CHECK(p.bridges[0].kind == TargetKind::Exchange);
  CHECK(p.bridges[0].target == "amq.topic");
  CHECK(p.bridges[1].is_wal());
  CHECK(p.bridges[1].kind == TargetKind::Queue);
  CHECK(!p.bridges[2].is_wal());
}

TEST_CASE("bridge_channels: the target is split on the first ':' only") {
  auto p = parse("sns->topic:arn:aws:sns:eu-west-2:1:t", UpstreamKind::Redis);
  REQUIRE(p.errors.empty());
  CHECK(p.bridges[0].target == "arn:aws:sns:eu-west-2:1:t");
  CHECK(p.bridges[0].text() == "sns->topic:arn:aws:sns:eu-west-2:1:t");
}

TEST_CASE("bridge_channels: the kinds each upstream accepts") {
  CHECK(parse("a->exchange:x", UpstreamKind::Amqp).errors.empty());
  CHECK(parse("a->queue:x", UpstreamKind::Amqp).errors.empty());
  CHECK(parse("a->topic:x", UpstreamKind::Amqp).errors.size() == 1);
  CHECK(parse("a->topic:x", UpstreamKind::Mqtt).errors.empty());
  CHECK(parse("a->exchange:x", UpstreamKind::Mqtt).errors.size() == 1);
  CHECK(parse("a->queue:x", UpstreamKind::Redis).errors.size() == 1);
  CHECK(parse("a->topic:x", UpstreamKind::Redis).errors.empty());
  CHECK(parse("a->function:x", UpstreamKind::Redis).errors[0].find("expected topic") !=
        std::string::npos);
}

TEST_CASE("bridge_channels: an identical entry twice is an error; a second target is not") {
  auto dup = parse("a->topic:x, a -> topic:x", UpstreamKind::Redis);
  REQUIRE(dup.errors.size() == 1);
  CHECK(dup.errors[0].find("listed twice") != std::string::npos);
  CHECK(dup.bridges.size() == 1);
  auto fanout = parse("a->topic:x, a->topic:y, b->topic:x", UpstreamKind::Redis);
  CHECK(fanout.errors.empty());
  CHECK(fanout.bridges.size() == 3);
}

TEST_CASE("bridge_channels: malformed entries each get their own message") {
  auto p = parse("noarrow, ->topic:x, a->topic, a->topic:, a->:x, " + std::string(64, 'c') +
                     "->topic:x, ok->topic:y,",
                 UpstreamKind::Redis);
  CHECK(p.errors.size() == 6);
  REQUIRE(p.bridges.size() == 1);
  CHECK(p.bridges[0].channel == "ok");
  CHECK(p.errors[0].find("expected channel->kind:target") != std::string::npos);
  CHECK(p.errors[1].find("channel before -> is empty") != std::string::npos);
  CHECK(p.errors[2].find("expected kind:target") != std::string::npos);
  CHECK(p.errors[3].find("name is empty") != std::string::npos);
  CHECK(p.errors[5].find("longer than 63 bytes") != std::string::npos);
}

TEST_CASE("bridge_channels: mixed-case and non-ASCII channels are kept byte for byte") {
  auto p = parse("MixedCase->topic:t, événements->topic:u", UpstreamKind::Mqtt);
  REQUIRE(p.errors.empty());
  CHECK(p.bridges[0].channel == "MixedCase");
  CHECK(p.bridges[1].channel == "événements");
}

TEST_CASE("bridge_channels: MQTT topics may not hold wildcards; AMQP names are short") {
  CHECK(parse("a->topic:x/+/y", UpstreamKind::Mqtt).errors.size() == 1);
  CHECK(parse("a->topic:x/#", UpstreamKind::Mqtt).errors.size() == 1);
  CHECK(parse("a->topic:x/#", UpstreamKind::Redis).errors.empty());
  CHECK(parse("a->queue:" + std::string(256, 'q'), UpstreamKind::Amqp).errors.size() == 1);
  CHECK(parse("a->queue:" + std::string(255, 'q'), UpstreamKind::Amqp).errors.empty());
}

TEST_CASE("bridge_channels: a webhook takes paths that start with /, or none, and nothing else") {
  auto p = parse("a->path:/signup, b->path:, c->path:/v1/users?x=1", UpstreamKind::Webhook);
  REQUIRE(p.errors.empty());
  REQUIRE(p.bridges.size() == 3);
  CHECK(p.bridges[0].kind == TargetKind::Path);
  CHECK(p.bridges[0].target == "/signup");
  CHECK(p.bridges[1].target.empty());
  CHECK(p.bridges[1].text() == "b->path:");
  CHECK(parse("a->path:signup", UpstreamKind::Webhook).errors[0].find("must start with /") != std::string::npos);
  CHECK(parse("a->path:/a b", UpstreamKind::Webhook).errors[0].find("spaces") != std::string::npos);
  CHECK(parse("a->path:/a#frag", UpstreamKind::Webhook).errors.size() == 1);
  CHECK(parse("a->topic:x", UpstreamKind::Webhook).errors[0].find("expected path") != std::string::npos);
  CHECK(parse("a->path:/x", UpstreamKind::Redis).errors[0].find("expected topic") != std::string::npos);
}
