// Parsers for the scalar values of the configuration: booleans, bounded integers, byte sizes
// and durations. Each returns nullopt on text it does not accept; the caller says what was
// expected, so every rule for "what a value may look like" lives here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgep {

// true/false, yes/no, on/off, 1/0 (any case).
std::optional<bool> parse_bool(std::string_view text);

// A decimal integer in [min, max].
std::optional<uint64_t> parse_uint(std::string_view text, uint64_t min, uint64_t max);

// Bytes: "1048576", "512K", "64M", "1G" (also KB/KiB, MB/MiB, GB/GiB; all binary).
std::optional<uint64_t> parse_size(std::string_view text);

// Milliseconds from "10" (seconds), "10s", "500ms" or "2m".
std::optional<uint64_t> parse_duration_ms(std::string_view text);

// Leading and trailing white space removed.
std::string_view trim(std::string_view text);

std::string to_lower(std::string_view text);

// "name: value; name: value" (with `separator` ':') as (name, value) pairs, each part trimmed;
// empty items skipped, an item without `separator` is (item, ""). HTTP headers, librdkafka
// properties.
std::vector<std::pair<std::string, std::string>> split_pairs(std::string_view list, char separator);

}  // namespace pgep
