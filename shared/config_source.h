// The raw key/value pairs of the configuration, read from an INI file and from PGPROXY_
// environment variables, before any meaning is given to them (that is config_load.cc).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/config.h"

namespace pgep {

struct RawEntry {
  std::string section;      // lower-cased: "database", "upstream.myamqp", "local.upstream_config"
  std::string key;          // lower-cased
  std::string value;
  std::string where;        // "pgep.ini:12" or "environment"
  std::string written_as;   // "[upstream.myamqp] uri" or "PGPROXY_UPSTREAM-MYAMQP-URI"
  bool from_environment = false;
};

// Reads INI text with inih. A '#' or ';' after white space starts a comment; indented lines
// continue the previous value (joined with a new line); a key given twice in a section, a key
// outside any section and a line too long for the reader are errors.
void read_ini_text(std::string_view text, std::string_view name, std::vector<RawEntry>& out,
                   std::vector<ConfigError>& errors);

// Reads PGPROXY_SECTION[-SUBSECTION]-KEY variables: the prefix dropped, the rest split on '-'
// and lower-cased, the last part the key and the others the section joined with '.'.
void read_environment(const std::vector<std::pair<std::string, std::string>>& environment,
                      std::vector<RawEntry>& out, std::vector<ConfigError>& errors);

// Reads the secret a KEY_file setting names: at most 64 KiB, trailing new lines dropped.
bool read_secret_file(const std::string& path, std::string& value, std::string& problem);

}  // namespace pgep
