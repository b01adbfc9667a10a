#include "shared/values.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace pgep {

namespace {

// Splits "64MiB" into 64 and "MiB". Returns false when there is no leading number.
bool split_number(std::string_view text, uint64_t& number, std::string_view& unit) {
  text = trim(text);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return false;
  unit = trim(text.substr(static_cast<size_t>(end - text.data())));
  return true;
}

std::optional<uint64_t> scaled(uint64_t number, uint64_t factor) {
  if (number > std::numeric_limits<uint64_t>::max() / factor) return std::nullopt;
  return number * factor;
}

}  // namespace

std::string_view trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

std::vector<std::pair<std::string, std::string>> split_pairs(std::string_view list, char separator) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t start = 0; start < list.size();) {
    size_t end = std::min(list.find(';', start), list.size());
    std::string_view item = trim(list.substr(start, end - start));
    start = end + 1;
    if (item.empty()) continue;
    size_t at = item.find(separator);
    if (at == std::string_view::npos) {
      pairs.emplace_back(std::string(item), "");
    } else {
      pairs.emplace_back(std::string(trim(item.substr(0, at))), std::string(trim(item.substr(at + 1))));
    }
  }
  return pairs;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string v = to_lower(trim(text));
  if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
  if (v == "false" || v == "no" || v == "off" || v == "0") return false;
  return std::nullopt;
}

std::optional<uint64_t> parse_uint(std::string_view text, uint64_t min, uint64_t max) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit) || !unit.empty()) return std::nullopt;
  if (number < min || number > max) return std::nullopt;
  return number;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  std::string u = to_lower(unit);
  if (u.empty() || u == "b") return number;
  if (u == "k" || u == "kb" || u == "kib") return scaled(number, 1ULL << 10);
  if (u == "m" || u == "mb" || u == "mib") return scaled(number, 1ULL << 20);
  if (u == "g" || u == "gb" || u == "gib") return scaled(number, 1ULL << 30);
  return std::nullopt;
}

std::optional<uint64_t> parse_duration_ms(std::string_view text) {
  uint64_t number = 0;
  std::string_view unit;
  if (!split_number(text, number, unit)) return std::nullopt;
  std::string u = to_lower(unit);
  if (u == "ms") return number;
  if (u.empty() || u == "s") return scaled(number, 1000);
  if (u == "m" || u == "min") return scaled(number, 60000);
  return std::nullopt;
}

}  // namespace pgep
