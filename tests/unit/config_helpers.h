// Helpers for the configuration tests: load INI text with a given environment.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "shared/config.h"

namespace pgep::test {

using Env = std::vector<std::pair<std::string, std::string>>;

inline ConfigResult load(const std::string& text, Env env = {}) {
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

}  // namespace pgep::test
