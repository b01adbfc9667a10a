// PostgreSQL WAL positions (LSNs): 64-bit numbers written "16/B374D848".
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace pgep {

inline std::string format_lsn(uint64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn));
  return text;
}

inline std::optional<uint64_t> parse_lsn(std::string_view text) {
  unsigned hi = 0, lo = 0;
  char tail = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%X/%X%c", &hi, &lo, &tail) != 2) return std::nullopt;
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

}  // namespace pgep
