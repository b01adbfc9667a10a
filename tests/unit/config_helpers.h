// Helpers for the configuration tests: load INI text with a given environment.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "shared/config.h"

namespace pgep::test {

using Env = std::vector<std::pair<std::string, std::string>>;

// As a user with a home (the state directory's default needs one).
inline ConfigResult load(const std::string& text, Env env = {}) {
  env.emplace_back("HOME", "/home/test");
  ConfigInput input{"", std::move(env), 1000};
  return load_config_text(text, "test.ini", input);
}

// Every error message, one a line, for assertions and for Catch2's failure output.
inline std::string messages(const ConfigResult& result) {
  std::string out;
  for (const ConfigError& e : result.errors) out += e.to_string() + "\n";
  return out;
}

inline const UpstreamSettings* upstream(const ConfigResult& result, const std::string& name) {
  for (const UpstreamSettings& u : result.config.upstreams) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

// A configuration with one upstream of each kind.
inline const char* const kMulti = R"(
[database]
uri = postgres://user:pass@localhost:5432/app

[upstream.myamqp]
kind = amqp
uri = amqp://user:pass@rabbitmq//
bridge_channels = amqpchannel->exchange:amq.topic

[upstream.myredis]
kind = redis
uri = redis://default:pass@redis
bridge_channels = redischannel->topic:events

[upstream.mymqtt]
kind = mqtt
uri = mqtt://user:pass@mosquitto:1883
bridge_channels = mqttchannel->topic:events
)";

// The smallest valid upstream, for tests about some other part.
inline const std::string kRedisUpstream = "[upstream.r]\nkind = redis\nuri = redis://h\nbridge_channels = a->topic:b\n";

// A new file in /tmp holding `content`; returns its path.
inline std::string temp_file(const std::string& content) {
  char path[] = "/tmp/pgep-unit-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  close(fd);
  return path;
}

// Whether an error names `key` and says `part`.
inline bool has_error(const pgep::ConfigResult& r, const std::string& key, const std::string& part) {
  for (const auto& e : r.errors) {
    if (e.key.find(key) != std::string::npos && e.to_string().find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace pgep::test
