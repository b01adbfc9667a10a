// wal2json_params: the plugin options passed to START_REPLICATION, written as in the seed:
//   "format-version" '2', "include-types" '0'
// The seed's environment form escapes the double quotes (\"format-version\" '2'); both are
// accepted. Parsing them (rather than pasting the text into SQL) is what lets pgep quote them
// safely and know the format version it must route.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgep {

struct Wal2jsonParam {
  std::string name;
  std::string value;
};

inline constexpr std::string_view kDefaultWal2jsonParams = "\"format-version\" '2', \"include-types\" '0'";

// Parses the list; on failure returns nullopt and sets `error` to what was wrong and where.
std::optional<std::vector<Wal2jsonParam>> parse_wal2json_params(std::string_view text,
                                                                std::string& error);

// False with `error` for options that would break the stream pgep reads: no "format-version"
// (wal2json would write format 1 silently), a version other than 1 or 2, "write-in-chunks"
// with format 1. Called by parse_wal2json_params.
bool check_wal2json_params(const std::vector<Wal2jsonParam>& params, std::string& error);

// The canonical form: "name" 'value', ... with quotes doubled inside.
std::string format_wal2json_params(const std::vector<Wal2jsonParam>& params);

// pgep's own table of dead letters, which the stream must leave out: a dead letter written to
// it would otherwise come back as a row change (one over the size limit, for ever).
inline constexpr std::string_view kDeadLettersTable = "events.dead_letters";
// `params` with kDeadLettersTable added to "filter-tables" (wal2json skips those first).
std::vector<Wal2jsonParam> without_own_tables(std::vector<Wal2jsonParam> params);

// The value of "format-version" (1 when absent, as in wal2json itself).
int wal2json_format_version(const std::vector<Wal2jsonParam>& params);

}  // namespace pgep
