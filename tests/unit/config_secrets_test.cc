// Secrets in the configuration: KEY_file reading, and passwords masked in every message and in
// the printed configuration.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/unit/config_helpers.h"

using namespace pgep::test;  // load, messages, upstream, kMulti, ...

TEST_CASE("KEY_file reads the value from a file, in the environment and in the file") {
  std::string secret = temp_file("s3cret\n");
  auto r = load(std::string(kMulti) + "password_file = " + secret + "\n",
                {{"PGPROXY_UPSTREAM-MYMQTT-USERNAME_FILE", secret}});
  // The file's last section is mymqtt, so password_file belongs to it.
  INFO(messages(r));
  REQUIRE(!r.ok());  // the URI holds credentials too
  CHECK(has_error(r, "password_file", "also given in"));
  CHECK(has_error(r, "PGPROXY_UPSTREAM-MYMQTT-USERNAME_FILE", "also given in"));

  std::string uri_file = temp_file("postgresql://u:p@h/d\n");
  auto ok = load("[database]\nuri_file = " + uri_file +
                 "\n[upstream.m]\nkind = mqtt\nuri = mqtt://h\nbridge_channels = a->topic:b\n"
                 "password_file = " + secret + "\n");
  INFO(messages(ok));
  REQUIRE(ok.ok());
  CHECK(ok.config.database.uri == "postgresql://u:p@h/d");
  CHECK(upstream(ok, "m")->options.at("password") == "s3cret");
  std::remove(secret.c_str());
  std::remove(uri_file.c_str());
}

TEST_CASE("an environment KEY_file overrides the file's KEY") {
  std::string secret = temp_file("from-file");
  auto r = load("[database]\nuri = postgresql://a@b/c\n[upstream.m]\nkind = mqtt\nuri = mqtt://h\n"
                "bridge_channels = a->topic:b\npassword = plain\n",
                {{"PGPROXY_UPSTREAM-M-PASSWORD_FILE", secret}});
  INFO(messages(r));
  REQUIRE(r.ok());
  CHECK(upstream(r, "m")->options.at("password") == "from-file");
  std::remove(secret.c_str());
}

TEST_CASE("KEY and KEY_file from the same source is an error naming both") {
  auto r = load("[database]\nuri = postgresql://a@b/c\nuri_file = /etc/hostname\n" +
                kRedisUpstream);
  CHECK(has_error(r, "uri_file", "given together with [database] uri"));
}

TEST_CASE("a KEY_file that is too big to be a secret is refused, /dev/zero included") {
  auto r = load("[database]\nuri_file = /dev/zero\n" +
                kRedisUpstream);
  CHECK(has_error(r, "uri_file", "larger than 64 KiB"));
}

TEST_CASE("an unreadable KEY_file names the file") {
  auto r = load("[database]\nuri_file = /nonexistent/pgep-secret\n" +
                kRedisUpstream);
  CHECK(has_error(r, "uri_file", "cannot read /nonexistent/pgep-secret"));
}

TEST_CASE("passwords never appear in error messages or the printed configuration") {
  // Secrets in the database URI (twice) and in an upstream's password.
  const std::string with_secrets = R"(
[database]
uri = postgresql://user:topsecret@h/d?password=alsosecret
[upstream.m]
kind = mqtt
uri = mqtt://h
bridge_channels = a->topic:b
password = mqttsecret
)";
  auto r = load(with_secrets + R"(qos = 9
[upstream.a]
kind = amqp
uri = amqp://u:amqpsecret@h:99999/
bridge_channels = a->queue:q
)");
  std::string all = messages(r);
  INFO(all);
  CHECK(!r.ok());
  CHECK(all.find("amqpsecret") == std::string::npos);
  CHECK(all.find("u:****@h:99999") != std::string::npos);

  auto ok = load(with_secrets);
  REQUIRE(ok.ok());
  std::string printed = pgep::format_config(ok.config);
  INFO(printed);
  CHECK(printed.find("secret") == std::string::npos);
  CHECK(printed.find("password = ****") != std::string::npos);
}
