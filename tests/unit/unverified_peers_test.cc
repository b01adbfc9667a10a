// Which connections leave the machine without a certificate check (supervisor/unverified_peers.h).
#include <catch2/catch.hpp>

#include "supervisor/unverified_peers.h"
#include "tests/unit/config_helpers.h"

using namespace pgep::test;

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const std::string& line : lines) all += line + "\n";
  return all;
}

std::vector<std::string> warnings_for(const std::string& database_uri, const std::string& upstreams,
                                      pgep::test::Env env = {}) {
  auto r = load("[database]\nuri = " + database_uri + "\n" + upstreams);
  INFO(messages(r));
  REQUIRE(r.ok());
  return pgep::unverified_peers(r.config, pgep::ConfigInput{"", env, 1000});
}

const std::string kLocalRedis = "[upstream.c]\nkind = redis\nuri = redis://127.0.0.1:6379/0\nbridge_channels = a->topic:a\n";

}  // namespace

TEST_CASE("loopback hosts are told from the others") {
  for (const char* host : {"localhost", "127.0.0.1", "127.8.9.10", "::1", "/run/postgresql", "@abstract", ""}) {
    CHECK(pgep::is_loopback_host(host));
  }
  for (const char* host : {"db.example.com", "10.0.0.5", "128.0.0.1", "::2", "fe80::1", "localhost.example.com"}) {
    CHECK_FALSE(pgep::is_loopback_host(host));
  }
}

TEST_CASE("a remote database without certificate verification is warned of, once per host") {
  auto plain = warnings_for("host=db1.example.com,10.0.0.7 user=u password=secret dbname=app", kLocalRedis);
  INFO(joined(plain));
  REQUIRE(plain.size() == 2);
  CHECK(plain[0].find("the database host db1.example.com is not on this machine and sslmode is prefer") == 0);
  CHECK(plain[1].find("10.0.0.7") != std::string::npos);
  CHECK(plain[0].find("secret") == std::string::npos);
  CHECK(warnings_for("postgresql://db.example.com/app?sslmode=require", kLocalRedis)[0].find("sslmode is require") !=
        std::string::npos);
  CHECK(warnings_for("postgresql://db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ca.pem", kLocalRedis).empty());
  CHECK(warnings_for("host=db.example.com sslmode=verify-ca dbname=app", kLocalRedis).empty());
  CHECK(warnings_for("postgresql://db.example.com/app", kLocalRedis, {{"PGSSLMODE", "verify-full"}}).empty());
  CHECK(warnings_for("postgresql://localhost/app", kLocalRedis).empty());
  CHECK(warnings_for("postgresql:///app", kLocalRedis).empty());
  CHECK(warnings_for("postgresql:///app", kLocalRedis, {{"PGHOST", "db.example.com"}}).size() == 1);
}

TEST_CASE("a remote broker in clear text or without verification is warned of") {
  const std::string db = "postgresql://localhost/app";
  auto amqp = warnings_for(db, "[upstream.bus]\nkind = amqp\nuri = amqp://u:p@mq.example.com/\nbridge_channels = a->exchange:x\n");
  REQUIRE(amqp.size() == 1);
  CHECK(amqp[0].find("upstream bus (mq.example.com) is not on this machine and amqp:// is not encrypted") == 0);
  auto unchecked = warnings_for(db, "[upstream.t]\nkind = mqtt\nuri = mqtts://mq.example.com\ntls_verify = false\n"
                                    "bridge_channels = a->topic:a\n");
  REQUIRE(unchecked.size() == 1);
  CHECK(unchecked[0].find("tls_verify is false") != std::string::npos);
  CHECK(warnings_for(db, "[upstream.t]\nkind = mqtt\nuri = mqtts://mq.example.com\nbridge_channels = a->topic:a\n").empty());
  CHECK(warnings_for(db, "[upstream.t]\nkind = mqtt\nuri = mqtts://localhost\ntls_verify = false\n"
                         "bridge_channels = a->topic:a\n").empty());
  CHECK(warnings_for(db, kLocalRedis).empty());
}

TEST_CASE("a Kafka cluster is warned of when a broker is remote and security.protocol is not TLS") {
  const std::string db = "postgresql://localhost/app";
  auto plain = warnings_for(db, "[upstream.k]\nkind = kafka\nuri = kafka://127.0.0.1:9092,kafka.example.com:9093\n"
                                "bridge_channels = a->topic:t\n");
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].find("upstream k (kafka.example.com) is not on this machine") == 0);
  CHECK(plain[0].find("security.protocol=SSL or SASL_SSL") != std::string::npos);
  CHECK(warnings_for(db, "[upstream.k]\nkind = kafka\nuri = kafka://kafka.example.com\nbridge_channels = a->topic:t\n"
                         "properties = security.protocol=SASL_SSL; sasl.mechanisms=PLAIN\n").empty());
  CHECK(warnings_for(db, "[upstream.k]\nkind = kafka\nuri = kafka://127.0.0.1:1,127.0.0.1:2,[::1]:3\n"
                         "bridge_channels = a->topic:t\n").empty());
}
