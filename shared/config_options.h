// The table of every configuration key: its section, default, type and what it expects.
// Loading, checking and printing the configuration all read this one table.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shared/bridge_spec.h"

namespace pgep {

enum class ValueType {
  String,        // any text (may be empty)
  Name,          // non-empty text without control characters
  Bool,
  UInt,          // within [min, max]
  CountOrNever,  // a UInt within [min, max], or "never"
  Size,          // bytes, within [min, max]
  Duration,      // milliseconds, within [min, max]
  Choice,        // one of `choices`, a '|'-separated list
  File,          // a readable file
  PostgresUri,   // a libpq connection string
  BrokerUri,     // a URI whose scheme the upstream's kind accepts
  BridgeList,    // bridge_channels
  Identifier,    // a slot or publication name: lower-case letters, digits, _
  TableName,     // empty, or an Identifier, optionally after a schema's: "pgep_state", "ops.pgep_state"
  Wal2jsonParams,
  HostPort,      // host:port to listen on
  HeaderList,    // HTTP headers "Name: value; Name: value"
};

struct OptionSpec {
  std::string_view key;
  ValueType type;
  // nullopt: the key is required. Otherwise the value used when it is not given.
  std::optional<std::string_view> default_value;
  std::string_view expected;  // said in every error about this key
  uint64_t min = 0;
  uint64_t max = UINT64_MAX;
  std::string_view choices = {};
  bool secret = false;        // printed as ****
};

std::span<const OptionSpec> daemon_options();
std::span<const OptionSpec> database_options();
// The options of an upstream of `kind`: the common ones (kind, uri, bridge_channels, ...)
// followed by the kind's own.
std::span<const OptionSpec> upstream_options(UpstreamKind kind);

// The spec of `key` in `table`, or nullptr.
const OptionSpec* find_option(std::span<const OptionSpec> table, std::string_view key);

// True when `key` is a key of some table, in any section.
bool is_known_key(std::string_view key);

// Checks `value` against `spec`; returns the problem, or "" when it is acceptable.
std::string check_option(const OptionSpec& spec, std::string_view value, UpstreamKind kind);

// The URI schemes an upstream kind accepts, e.g. "amqp:// or amqps://".
std::string accepted_schemes(UpstreamKind kind);
// The "Name: value" pairs of a HeaderList value, in order (the value was checked).
std::vector<std::pair<std::string, std::string>> parse_header_list(std::string_view value);
// The default port for a scheme of an upstream, or 0 if the scheme is not accepted.
int default_port(UpstreamKind kind, std::string_view scheme);
// "host:port,host:port" from kafka://host[:port][,host[:port]...]; nullopt and `error` when it is not.
std::optional<std::string> kafka_bootstrap_servers(std::string_view uri, std::string& error);
// awssns, awssqs or awslambda.
bool is_aws_kind(UpstreamKind kind);
// Whether a scheme uses TLS.
bool scheme_uses_tls(std::string_view scheme);

// The value as it may be shown to a person: passwords masked.
std::string displayed_value(std::string_view key, std::string_view value);

}  // namespace pgep
