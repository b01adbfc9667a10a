// pgep's configuration: what the supervisor and its workers run with, after the file and the
// environment were merged, defaults applied and every value checked (config_load.cc).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "shared/bridge_spec.h"
#include "shared/wal2json_params.h"

namespace pgep {

enum class LogLevel { Error, Warn, Info, Debug };
enum class LogFormat { Text, Json };
enum class LogOutput { Stderr, Syslog };

// [pgep]: the daemon's own settings.
struct DaemonSettings {
  std::string control_socket;
  std::string metrics_listen;  // host:port, empty = no metrics listener
  LogLevel log_level = LogLevel::Info;
  LogFormat log_format = LogFormat::Text;
  LogOutput log_output = LogOutput::Stderr;
  bool log_messages = false;    // one line per forwarded message
  uint64_t ledger_max_events = 0;
  uint64_t ledger_max_bytes = 0;
  std::string pid_file;
  std::string state_directory;  // where the state files are, one per cluster, database and slot
  std::string state_file;       // one path for the state file instead (empty: in state_directory)
  std::string state_table;      // a table of the database for the state instead of a file (empty: a file)
  uint64_t shutdown_timeout_ms = 0;
  bool active_standby = true;     // take the advisory lock; forward only while holding it
  uint64_t takeover_timeout_ms = 10000;
  std::map<std::string, std::string> values;  // every key as resolved, for printing
};

enum class OutputPlugin { Wal2json, Pgoutput };

// [database], or [local] in the seed format.
struct DatabaseSettings {
  std::string uri;
  std::string replication_slot;
  OutputPlugin output_plugin = OutputPlugin::Wal2json;
  std::string publication;  // pgoutput's
  std::vector<Wal2jsonParam> wal2json_params;
  std::map<std::string, std::string> values;  // every key as resolved, for printing
};

// [upstream.NAME], or [local.upstream_config] (named "local") in the seed format.
struct UpstreamSettings {
  std::string name;
  UpstreamKind kind = UpstreamKind::Amqp;
  std::string uri;
  std::vector<BridgeSpec> bridges;
  // Every key of the kind, checked and with defaults filled in. A worker receives this map
  // and reads its typed values with the parsers of values.h.
  std::map<std::string, std::string> options;
};

struct Config {
  DaemonSettings daemon;
  DatabaseSettings database;
  std::vector<UpstreamSettings> upstreams;
};

// One problem found while loading: where (file:line, or the environment variable), the key as
// the user wrote it, the value (passwords masked), and what was expected.
struct ConfigError {
  std::string where;
  std::string key;
  std::string value;
  bool has_value = false;
  std::string problem;

  std::string to_string() const;
};

// Where the configuration comes from: an optional file and the process environment.
struct ConfigInput {
  std::string file;                                        // empty: environment only
  std::vector<std::pair<std::string, std::string>> environment;
  unsigned uid = 0;                                        // for the default control socket

  // `file` (may be empty), this process's environment and user.
  static ConfigInput from_process(std::string file);
  // The value of the variable `name` in `environment`, "" when it is not set.
  std::string variable(std::string_view name) const;
};

struct ConfigResult {
  Config config;
  std::vector<ConfigError> errors;  // empty when `config` is usable
  bool ok() const { return errors.empty(); }
  // Every error on one line, joined by `separator`.
  std::string describe(std::string_view separator) const;
};

// Reads, merges and checks. Reports every error found, not only the first.
ConfigResult load_config(const ConfigInput& input);

// Same, with the file's text given directly (`name` is used in messages). For tests and fuzzing.
ConfigResult load_config_text(std::string_view text, std::string_view name,
                              const ConfigInput& input);

// The environment of this process as pairs.
std::vector<std::pair<std::string, std::string>> process_environment();

// The effective configuration in the [pgep]/[database]/[upstream.NAME] format, every default
// spelled out and every password replaced by ****.
std::string format_config(const Config& config);

}  // namespace pgep
