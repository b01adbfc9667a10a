// Typed reading of a bridge's settings map (what the Configure frame carries): the upstream's
// options, already checked by the supervisor's loader, plus the bridge's own keys below.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "shared/values.h"

namespace pgep {

// Keys the supervisor adds to an upstream's options for one bridge.
inline constexpr const char* kSettingUpstream = "bridge.upstream";
inline constexpr const char* kSettingChannel = "bridge.channel";
inline constexpr const char* kSettingTargetKind = "bridge.target_kind";
inline constexpr const char* kSettingTarget = "bridge.target";

class Settings {
 public:
  explicit Settings(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  const std::string& text(const std::string& key) const {
    auto found = values_.find(key);
    if (found == values_.end()) throw std::runtime_error("setting " + key + " is missing");
    return found->second;
  }
  uint64_t number(const std::string& key) const { return checked(key, parse_uint(text(key), 0, UINT64_MAX)); }
  uint64_t duration_ms(const std::string& key) const { return checked(key, parse_duration_ms(text(key))); }
  uint64_t size(const std::string& key) const { return checked(key, parse_size(text(key))); }
  bool flag(const std::string& key) const { return checked(key, parse_bool(text(key))); }
  // A CountOrNever setting: nullopt for "never".
  std::optional<uint64_t> count_or_never(const std::string& key) const {
    if (text(key) == "never") return std::nullopt;
    return number(key);
  }
  const std::map<std::string, std::string>& all() const { return values_; }

 private:
  template <typename T>
  T checked(const std::string& key, std::optional<T> value) const {
    if (!value) throw std::runtime_error("setting " + key + " = \"" + text(key) + "\" is malformed");
    return *value;
  }

  std::map<std::string, std::string> values_;
};

}  // namespace pgep
