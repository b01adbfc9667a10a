// Scalar values, URIs and wal2json_params.
#include <catch2/catch.hpp>

#include "shared/log.h"
#include "shared/uri.h"
#include "shared/values.h"
#include "shared/wal2json_params.h"

TEST_CASE("booleans, integers, sizes and durations") {
  CHECK(pgep::parse_bool("Yes") == true);
  CHECK(pgep::parse_bool(" off ") == false);
  CHECK(!pgep::parse_bool("maybe"));
  CHECK(pgep::parse_uint("42", 1, 100) == 42u);
  CHECK(!pgep::parse_uint("0", 1, 100));
  CHECK(!pgep::parse_uint("42x", 0, 100));
  CHECK(!pgep::parse_uint("-1", 0, 100));
  CHECK(pgep::parse_size("64MiB") == 64u << 20);
  CHECK(pgep::parse_size("512k") == 512u << 10);
  CHECK(pgep::parse_size("1G") == 1u << 30);
  CHECK(pgep::parse_size("100") == 100u);
  CHECK(!pgep::parse_size("12 parsecs"));
  CHECK(!pgep::parse_size("99999999999999999999G"));
  CHECK(pgep::parse_duration_ms("10") == 10000u);
  CHECK(pgep::parse_duration_ms("250ms") == 250u);
  CHECK(pgep::parse_duration_ms("2m") == 120000u);
  CHECK(!pgep::parse_duration_ms("soon"));
}

TEST_CASE("URIs: credentials and paths are percent-decoded") {
  std::string error;
  auto u = pgep::parse_uri("amqp://us%40er:p%40ss%3Aw%2Frd@rabbit.local:5673/%2Fvhost", error);
  REQUIRE(u);
  CHECK(u->scheme == "amqp");
  CHECK(u->user == "us@er");
  CHECK(u->password == "p@ss:w/rd");
  CHECK(u->host == "rabbit.local");
  CHECK(u->port == 5673);
  CHECK(u->path == "/vhost");

  auto seed = pgep::parse_uri("amqp://user:pass@rabbitmq//", error);
  REQUIRE(seed);
  CHECK(seed->path == "/");  // the vhost "/"
  auto bare = pgep::parse_uri("MQTT://[::1]:1883", error);
  REQUIRE(bare);
  CHECK(bare->scheme == "mqtt");
  CHECK(bare->host == "::1");
  CHECK(!bare->user);
  CHECK(!bare->path);
  auto unescaped_at = pgep::parse_uri("redis://default:p@ss@h", error);
  REQUIRE(unescaped_at);
  CHECK(unescaped_at->password == "p@ss");
  CHECK(pgep::parse_uri("redis://:onlypass@h/3", error)->user == "");
}

TEST_CASE("URIs: malformed ones are refused with a reason") {
  std::string error;
  CHECK(!pgep::parse_uri("no scheme", error));
  CHECK(!pgep::parse_uri("amqp://", error));
  CHECK(error == "no host");
  CHECK(!pgep::parse_uri("amqp://h:0", error));
  CHECK(!pgep::parse_uri("amqp://h:", error));
  CHECK(!pgep::parse_uri("amqp://h:70000", error));
  CHECK(!pgep::parse_uri("amqp://u:%zz@h", error));
  CHECK(error.find("password") != std::string::npos);
  CHECK(!pgep::parse_uri("amqp://[::1", error));
  CHECK(!pgep::parse_uri("amqp://h/%4", error));
}

TEST_CASE("URIs: passwords are masked for display") {
  CHECK(pgep::mask_uri_password("amqp://u:secret@h/") == "amqp://u:****@h/");
  CHECK(pgep::mask_uri_password("amqp://u@h/") == "amqp://u@h/");
  CHECK(pgep::mask_uri_password("redis://:p@ss@h:1/0") == "redis://:****@h:1/0");
  CHECK(pgep::mask_uri_password("postgresql://h/db?user=a&password=b&x=1") ==
        "postgresql://h/db?user=a&password=****&x=1");
  CHECK(pgep::mask_uri_password("host=h password=pw dbname=d") == "host=h password=**** dbname=d");
  CHECK(pgep::mask_uri_password("host=h password = pw dbname=d") == "host=h password = **** dbname=d");
  CHECK(pgep::mask_uri_password("host=h password='a b\\'c' dbname=d") == "host=h password=**** dbname=d");
  CHECK(pgep::mask_uri_password("password='open") == "password=****");
  CHECK(pgep::mask_uri_password("passwordless=yes") == "passwordless=yes");
}

TEST_CASE("wal2json_params: quoted, escaped, bare, and wrong") {
  std::string error;
  auto p = pgep::parse_wal2json_params(pgep::kDefaultWal2jsonParams, error);
  REQUIRE(p);
  REQUIRE(p->size() == 2);
  CHECK((*p)[0].name == "format-version");
  CHECK((*p)[0].value == "2");
  CHECK(pgep::format_wal2json_params(*p) == pgep::kDefaultWal2jsonParams);

  auto escaped = pgep::parse_wal2json_params("\\\"format-version\\\" '2' , \\\"add-tables\\\" 'public.a'", error);
  REQUIRE(escaped);
  CHECK((*escaped)[1].value == "public.a");
  auto quotes = pgep::parse_wal2json_params("\"format-version\" '1', include_lsn 'it''s'", error);
  REQUIRE(quotes);
  CHECK((*quotes)[1].value == "it's");
  CHECK(pgep::wal2json_format_version(*quotes) == 1);
  CHECK(pgep::format_wal2json_params(*quotes) == "\"format-version\" '1', \"include_lsn\" 'it''s'");

  CHECK(!pgep::parse_wal2json_params("\"format-version\" 2", error));
  CHECK(error.find("expected a 'quoted' value") != std::string::npos);
  CHECK(!pgep::parse_wal2json_params("\"a\" '1' \"b\" '2'", error));
  CHECK(error.find("expected ','") != std::string::npos);
  CHECK(!pgep::parse_wal2json_params("\"a\" '1',", error));
  CHECK(!pgep::parse_wal2json_params("\"a '1'", error));
  CHECK(!pgep::parse_wal2json_params("\"a\" '1", error));
  CHECK(!pgep::parse_wal2json_params("\"a\" '1', \"a\" '2'", error));
  CHECK(error.find("twice") != std::string::npos);
  CHECK(!pgep::parse_wal2json_params("\"format-version\" '3'", error));
}

TEST_CASE("wal2json_params that would break the stream are refused, saying why") {
  std::string error;
  CHECK(!pgep::parse_wal2json_params("include_lsn '1'", error));
  CHECK(error.find("\"format-version\" is missing: without it wal2json writes format 1") != std::string::npos);
  CHECK(!pgep::parse_wal2json_params("", error));
  CHECK(!pgep::parse_wal2json_params("\"format-version\" '1', \"write-in-chunks\" 'true'", error));
  CHECK(error.find("\"write-in-chunks\" with format 1 splits") != std::string::npos);
  CHECK(!pgep::parse_wal2json_params("\"format-version\" '1', \"write-in-chunks\" 'ON'", error));
  CHECK(pgep::parse_wal2json_params("\"format-version\" '1', \"write-in-chunks\" '0'", error));
  CHECK(pgep::parse_wal2json_params("\"format-version\" '2', \"write-in-chunks\" '1'", error));
}

TEST_CASE("control characters in a log message are escaped, so outside text cannot forge a line") {
  CHECK(pgep::escape_control("plain text") == "plain text");
  CHECK(pgep::escape_control("k\nFAKE error: x") == "k\\nFAKE error: x");
  CHECK(pgep::escape_control(std::string("a\r\tb\x01\x7f", 6)) == "a\\r\\tb\\x01\\x7f");
}
