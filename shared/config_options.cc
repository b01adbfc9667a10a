#include "shared/config_options.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "shared/uri.h"
#include "shared/values.h"
#include "shared/wal2json_params.h"

namespace pgep {

namespace {

constexpr uint64_t kMiB = 1ULL << 20;

// The control socket's default depends on the user, so it is filled in by the loader.
constexpr OptionSpec kDaemon[] = {
    {"control_socket", ValueType::Name, "", "a path for pgep-ctl's UNIX socket (empty: $RUNTIME_DIRECTORY/pgep.sock under systemd, /run/pgep/pgep.sock as root, else $XDG_RUNTIME_DIR/pgep.sock or state_directory/pgep.sock)"},
    {"metrics_listen", ValueType::HostPort, "", "host:port for GET /metrics and /healthz (a port alone: on 127.0.0.1), or empty for none"},
    {"log_level", ValueType::Choice, "info", "error, warn, info or debug", 0, 0, "error|warn|info|debug"},
    {"log_format", ValueType::Choice, "text", "text or json", 0, 0, "text|json"},
    {"log_output", ValueType::Choice, "stderr", "stderr or syslog", 0, 0, "stderr|syslog"},
    {"log_messages", ValueType::Bool, "false", "true or false (one log line per forwarded message)"},
    {"ledger_max_events", ValueType::UInt, "10000", "a number of events from 1 to 10000000", 1, 10000000},
    {"ledger_max_bytes", ValueType::Size, "16MiB", "a size from 64KiB to 16GiB, such as 64MiB", 64 * 1024, 16384 * kMiB},
    {"pid_file", ValueType::String, "", "a path for the pid file, or empty for none"},
    {"state_directory", ValueType::String, "", "a directory for the state files (empty: $STATE_DIRECTORY under systemd, /var/lib/pgep as root, else the XDG state directory)"},
    {"state_file", ValueType::String, "", "a path where the last confirmed WAL position is kept (empty: one per cluster, database and slot in state_directory)"},
    {"state_table", ValueType::TableName, "", "empty (the state is in a file), or a table of the database, such as pgep_state or ops.pgep_state, of lower-case letters, digits and _, where the state is kept instead"},
    {"shutdown_timeout", ValueType::Duration, "10s", "a duration from 0s to 1h, such as 10s", 0, 3600 * 1000},
    {"active_standby", ValueType::Bool, "true", "true (forward only while holding the database's lock for the slot: a second pgep stands by) or false"},
    {"takeover_timeout", ValueType::Duration, "10s", "a duration from 2s to 10min: how long a frozen or cut-off active pgep keeps the lock", 2000, 600 * 1000},
};

constexpr OptionSpec kDatabase[] = {
    {"uri", ValueType::PostgresUri, std::nullopt, "a PostgreSQL connection URI such as postgresql://user:pass@host:5432/db"},
    {"replication_slot", ValueType::Identifier, "pg_event_proxy", "a slot name of lower-case letters, digits and _, at most 63 bytes"},
    {"output_plugin", ValueType::Choice, "wal2json", "wal2json or pgoutput (PostgreSQL's built-in plugin, with a publication)", 0, 0, "wal2json|pgoutput"},
    {"publication", ValueType::Identifier, "pgep", "a publication name of lower-case letters, digits and _, at most 63 bytes (pgoutput only)"},
    {"wal2json_params", ValueType::Wal2jsonParams, kDefaultWal2jsonParams, "wal2json options such as \"format-version\" '2', \"include-types\" '0'"},
};

constexpr OptionSpec kKind[] = {
    {"kind", ValueType::Choice, std::nullopt, "amqp, mqtt, redis, webhook, awssns, awssqs, awslambda, nats or kafka", 0, 0,
     "amqp|mqtt|redis|webhook|awssns|awssqs|awslambda|nats|kafka"},
};

constexpr OptionSpec kBrokerUri[] = {
    {"uri", ValueType::BrokerUri, std::nullopt, "the broker's URI"},
};

constexpr OptionSpec kCommonUpstream[] = {
    {"bridge_channels", ValueType::BridgeList, std::nullopt, "a list such as events->exchange:amq.topic, wal2json->topic:wal"},
    {"dead_letter_after", ValueType::CountOrNever, "10", "a number of refusals from 0 to 1000000, or never (a refused message then holds the bridge)", 0, 1000000},
    {"stall_timeout", ValueType::Duration, "60s", "a duration from 0s (off) to 1h, such as 60s", 0, 3600 * 1000},
    {"wal_transaction_records", ValueType::Bool, "true",
     "true or false (a bridge of the channel wal2json also forwards each transaction's begin and commit records)"},
};

constexpr OptionSpec kAmqpOwn[] = {
    {"max_in_flight", ValueType::UInt, "1000", "a number from 1 to 65535 of published messages awaiting the broker's confirmation", 1, 65535},
    {"delivery_mode", ValueType::Choice, "1", "1 (non-persistent) or 2 (persistent)", 0, 0, "1|2"},
    {"content_type", ValueType::Name, "text/plain", "a MIME type such as text/plain or application/json"},
    {"declare", ValueType::Bool, "false", "true or false (declare missing exchanges and queues)"},
    {"heartbeat", ValueType::Duration, "30s", "a duration from 0s (off) to 1h", 0, 3600 * 1000},
    {"unroutable", ValueType::Choice, "drop", "drop (log and count a message no queue took) or error", 0, 0, "drop|error"},
    // RabbitMQ 3.x's max_message_size (RabbitMQ 4 lowered its default to 16 MiB).
    {"max_message_bytes", ValueType::Size, "128MiB", "a size from 1KiB to 1GiB, such as 16MiB", 1024, 1024 * kMiB},
};

constexpr OptionSpec kMqttOwn[] = {
    {"username", ValueType::String, "", "a user name, or empty (it may also be in the URI)"},
    {"password", ValueType::String, "", "a password, or empty (it may also be in the URI)", 0, UINT64_MAX, {}, true},
    {"qos", ValueType::UInt, "1", "0, 1 or 2", 0, 2},
    {"keepalive", ValueType::Duration, "30s", "a duration from 1s to 1h", 1000, 3600 * 1000},
    {"client_id", ValueType::String, "", "an MQTT client id, or empty for pgep-HOST-PID"},
    // libmosquitto walks its list of unacknowledged messages at every publish and every PUBACK:
    // past about 100 the walk costs more CPU than the window buys (docs/benchmarks.md).
    {"max_in_flight", ValueType::UInt, "100", "a number from 1 to 65535 of published messages awaiting the broker's confirmation", 1, 65535},
    // MQTT's own limit: a packet's remaining length is at most 256 MiB.
    {"max_message_bytes", ValueType::Size, "256MiB", "a size from 1KiB to 1GiB, such as 16MiB", 1024, 1024 * kMiB},
};

constexpr OptionSpec kRedisOwn[] = {
    {"max_in_flight", ValueType::UInt, "1000", "a number from 1 to 65535 of published messages awaiting the broker's confirmation", 1, 65535},
    {"stream_maxlen", ValueType::UInt, "0", "a number of entries a stream keeps at least (XADD MAXLEN ~ N), or 0 for no trimming"},
    {"stream_per_key", ValueType::Bool, "true", "true (stream:NAME writes to NAME.key when the routing key is not empty) or false (to NAME alone)"},
    // Redis's proto-max-bulk-len.
    {"max_message_bytes", ValueType::Size, "512MiB", "a size from 1KiB to 1GiB, such as 16MiB", 1024, 1024 * kMiB},
};

constexpr OptionSpec kWebhookOwn[] = {
    {"max_in_flight", ValueType::UInt, "100", "a number from 1 to 65535 of published messages awaiting the broker's confirmation", 1, 65535},
    {"content_type", ValueType::Name, "application/json", "a MIME type such as application/json"},
    {"headers", ValueType::HeaderList, "", "HTTP headers such as X-Source: pgep; Authorization: Bearer abc", 0, UINT64_MAX, {}, true},
    {"secret", ValueType::String, "", "a key for the HMAC-SHA256 signature header, or empty for none", 0, UINT64_MAX, {}, true},
    {"timeout", ValueType::Duration, "30s", "a duration from 1s to 10min for one request", 1000, 600 * 1000},
    {"batch", ValueType::UInt, "1", "a number of events per request from 1 (the body as is) to 1000 (a JSON array)", 1, 1000},
    {"max_message_bytes", ValueType::Size, "64MiB", "a size from 1KiB to 1GiB, such as 16MiB", 1024, 1024 * kMiB},
};

// The AWS kinds: the endpoint defaults to the region's (config_load.cc), credentials and
// region to the standard AWS_* variables.
constexpr OptionSpec kAwsOwn[] = {
    {"uri", ValueType::BrokerUri, "", "the service's endpoint such as https://sqs.eu-west-1.amazonaws.com, or empty for the region's"},
    {"endpoint", ValueType::BrokerUri, "", "the service's endpoint (the same as uri, under LocalStack's name), or empty"},
    {"region", ValueType::String, "", "an AWS region such as eu-west-1, or empty for AWS_REGION or AWS_DEFAULT_REGION"},
    {"access_key_id", ValueType::String, "", "an AWS access key id, or empty for AWS_ACCESS_KEY_ID"},
    {"secret_access_key", ValueType::String, "", "an AWS secret access key, or empty for AWS_SECRET_ACCESS_KEY", 0, UINT64_MAX, {}, true},
    {"session_token", ValueType::String, "", "an AWS session token, or empty for AWS_SESSION_TOKEN (or none)", 0, UINT64_MAX, {}, true},
    {"max_in_flight", ValueType::UInt, "100", "a number from 1 to 65535 of published messages awaiting the service's answer", 1, 65535},
    {"timeout", ValueType::Duration, "30s", "a duration from 1s to 10min for one request", 1000, 600 * 1000},
};

// SNS and SQS take up to 10 messages per request, and messages of up to 256 KiB by default.
constexpr OptionSpec kAwsBatchOwn[] = {
    {"batch", ValueType::UInt, "10", "a number of messages per request from 1 to 10 (Publish or SendMessage for one, the Batch actions for more)", 1, 10},
    {"max_message_bytes", ValueType::Size, "256KiB", "a size from 1KiB to 1MiB, such as 256KiB (SNS's and SQS's default limit)", 1024, kMiB},
};

constexpr OptionSpec kAwsLambdaOwn[] = {
    {"invocation_type", ValueType::Choice, "Event", "Event (asynchronous) or RequestResponse (the function's own answer)", 0, 0, "Event|RequestResponse"},
    {"max_message_bytes", ValueType::Size, "256KiB", "a size from 1KiB to 6MiB, such as 256KiB (Lambda's limit for Event)", 1024, 6 * kMiB},
};

constexpr OptionSpec kNatsOwn[] = {
    {"max_in_flight", ValueType::UInt, "1000", "a number from 1 to 65535 of published messages awaiting JetStream's PubAck", 1, 65535},
    // nats-server's default max_payload.
    {"max_message_bytes", ValueType::Size, "1MiB", "a size from 1KiB to 64MiB, such as 1MiB (the server's max_payload)", 1024, 64 * kMiB},
    {"declare", ValueType::Bool, "false", "true or false (create a JetStream stream for the subject when none takes it)"},
    {"stream", ValueType::String, "", "the name of the stream declare = true creates, or empty for PGEP_ and the subject"},
    {"token", ValueType::String, "", "an authentication token, or empty", 0, UINT64_MAX, {}, true},
    {"credentials_file", ValueType::File, "", "a readable .creds file (user JWT and NKey seed), or empty"},
    {"nkey", ValueType::String, "", "the public NKey of nkey_seed_file's user, or empty"},
    {"nkey_seed_file", ValueType::File, "", "a readable file holding the NKey seed, or empty"},
    {"timeout", ValueType::Duration, "10s", "a duration from 1s to 10min: to connect, and to wait for each PubAck", 1000, 600 * 1000},
};

constexpr OptionSpec kKafkaOwn[] = {
    {"max_in_flight", ValueType::UInt, "1000", "a number from 1 to 65535 of messages awaiting their delivery report", 1, 65535},
    // Kafka's default message.max.bytes (1 MB and a little).
    {"max_message_bytes", ValueType::Size, "1MiB", "a size from 1KiB to 64MiB, such as 1MiB (the topic's max.message.bytes)", 1024, 64 * kMiB},
    {"key", ValueType::Choice, "routing_key", "routing_key, id or none (the Kafka message's key)", 0, 0, "routing_key|id|none"},
    {"properties", ValueType::String, "", "librdkafka properties such as security.protocol=SASL_SSL; sasl.mechanism=PLAIN", 0, UINT64_MAX, {}, true},
    {"timeout", ValueType::Duration, "30s", "a duration from 1s to 1h: how long librdkafka tries to deliver a message", 1000, 3600 * 1000},
};

// amqp, mqtt, webhook, nats and the AWS kinds speak TLS (amqps://, mqtts://, https://).
constexpr OptionSpec kTls[] = {
    {"tls_ca_file", ValueType::File, "", "a readable file of CA certificates (PEM), or empty for the system's"},
    {"tls_cert_file", ValueType::File, "", "a readable client certificate file (PEM), or empty"},
    {"tls_key_file", ValueType::File, "", "a readable client key file (PEM), or empty"},
    {"tls_verify", ValueType::Bool, "true", "true or false (check the broker's certificate and name)"},
};

std::vector<OptionSpec> joined(std::initializer_list<std::span<const OptionSpec>> parts) {
  std::vector<OptionSpec> all;
  for (auto part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

bool valid_slot_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string check_postgres_uri(std::string_view value) {
  char* message = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(std::string(value).c_str(), &message), &PQconninfoFree);
  if (options) {
    // libpq only checks the port when it connects; a typo should fail here, not at 3 a.m.
    for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
      if (std::string_view(o->keyword) != "port" || !o->val) continue;
      std::string_view ports(o->val);
      for (size_t start = 0; start <= ports.size();) {
        size_t comma = std::min(ports.find(',', start), ports.size());
        if (!parse_uint(ports.substr(start, comma - start), 1, 65535)) {
          return "bad port \"" + std::string(o->val) + "\" (expected 1 to 65535)";
        }
        start = comma + 1;
      }
    }
    return "";
  }
  std::string problem = message ? message : "not a connection string libpq accepts";
  PQfreemem(message);
  while (!problem.empty() && (problem.back() == '\n' || problem.back() == ' ')) problem.pop_back();
  return problem;
}

std::string check_broker_uri(std::string_view value, UpstreamKind kind) {
  if (value.empty() && is_aws_kind(kind)) return "";  // the region's endpoint
  std::string error;
  if (kind == UpstreamKind::Kafka) return kafka_bootstrap_servers(value, error) ? "" : error;
  std::optional<Uri> uri = parse_uri(value, error);
  if (!uri) return error;
  if (default_port(kind, uri->scheme) == 0) {
    if (kind == UpstreamKind::Redis && uri->scheme == "rediss") {
      return "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS";
    }
    return "scheme " + uri->scheme + ":// is not one a " + upstream_kind_name(kind) +
           " upstream accepts (expected " + accepted_schemes(kind) + ")";
  }
  if (kind == UpstreamKind::Redis && uri->path && !uri->path->empty() &&
      !parse_uint(*uri->path, 0, 65535)) {
    return "the path \"/" + *uri->path + "\" must be a database number such as /0";
  }
  return "";
}

std::string check_host_port(std::string_view value) {
  if (value.find(':') == std::string_view::npos && parse_uint(value, 1, 65535)) return "";  // on loopback
  size_t colon = value.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !parse_uint(value.substr(colon + 1), 1, 65535)) {
    return "not host:port";
  }
  return "";
}

// An HTTP header name: RFC 9110's token characters.
bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string check_header_list(std::string_view value) {
  for (size_t start = 0; start < value.size();) {
    size_t end = std::min(value.find(';', start), value.size());
    std::string_view item = trim(value.substr(start, end - start));
    start = end + 1;
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string_view::npos || !is_header_name(trim(item.substr(0, colon)))) {
      return "\"" + std::string(item) + "\" is not Name: value with a header name of letters, digits and -";
    }
    for (char c : item) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a header holds a control character";
    }
  }
  return "";
}

bool in_choices(std::string_view choices, std::string_view value) {
  size_t start = 0;
  while (start <= choices.size()) {
    size_t bar = choices.find('|', start);
    if (bar == std::string_view::npos) bar = choices.size();
    if (choices.substr(start, bar - start) == value) return true;
    start = bar + 1;
  }
  return false;
}

}  // namespace

std::span<const OptionSpec> daemon_options() { return kDaemon; }
std::span<const OptionSpec> database_options() { return kDatabase; }

std::span<const OptionSpec> upstream_options(UpstreamKind kind) {
  static const std::vector<OptionSpec> amqp = joined({kKind, kBrokerUri, kCommonUpstream, kAmqpOwn, kTls});
  static const std::vector<OptionSpec> mqtt = joined({kKind, kBrokerUri, kCommonUpstream, kMqttOwn, kTls});
  static const std::vector<OptionSpec> redis = joined({kKind, kBrokerUri, kCommonUpstream, kRedisOwn});
  static const std::vector<OptionSpec> webhook = joined({kKind, kBrokerUri, kCommonUpstream, kWebhookOwn, kTls});
  static const std::vector<OptionSpec> aws_batch = joined({kKind, kCommonUpstream, kAwsOwn, kAwsBatchOwn, kTls});
  static const std::vector<OptionSpec> aws_lambda = joined({kKind, kCommonUpstream, kAwsOwn, kAwsLambdaOwn, kTls});
  static const std::vector<OptionSpec> nats = joined({kKind, kBrokerUri, kCommonUpstream, kNatsOwn, kTls});
  static const std::vector<OptionSpec> kafka = joined({kKind, kBrokerUri, kCommonUpstream, kKafkaOwn});
  switch (kind) {
    case UpstreamKind::Amqp: return amqp;
    case UpstreamKind::Mqtt: return mqtt;
    case UpstreamKind::Redis: return redis;
    case UpstreamKind::Webhook: return webhook;
    case UpstreamKind::AwsSns:
    case UpstreamKind::AwsSqs: return aws_batch;
    case UpstreamKind::AwsLambda: return aws_lambda;
    case UpstreamKind::Nats: return nats;
    case UpstreamKind::Kafka: return kafka;
  }
  return redis;
}

const OptionSpec* find_option(std::span<const OptionSpec> table, std::string_view key) {
  for (const OptionSpec& spec : table) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

bool is_known_key(std::string_view key) {
  for (auto table : {daemon_options(), database_options(), upstream_options(UpstreamKind::Amqp),
                     upstream_options(UpstreamKind::Mqtt), upstream_options(UpstreamKind::Redis),
                     upstream_options(UpstreamKind::Webhook), upstream_options(UpstreamKind::AwsSns),
                     upstream_options(UpstreamKind::AwsLambda), upstream_options(UpstreamKind::Nats),
                     upstream_options(UpstreamKind::Kafka)}) {
    if (find_option(table, key)) return true;
  }
  return false;
}

std::string check_option(const OptionSpec& spec, std::string_view value, UpstreamKind kind) {
  auto bounded = [&](std::optional<uint64_t> n) {
    return n && *n >= spec.min && *n <= spec.max ? "" : "not " + std::string(spec.expected);
  };
  switch (spec.type) {
    case ValueType::String:
      return "";
    case ValueType::Name:
      if (value.empty()) return "empty";
      for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20) return "holds a control character";
      }
      return "";
    case ValueType::Bool:
      return parse_bool(value) ? "" : "not a boolean";
    case ValueType::UInt:
      return bounded(parse_uint(value, 0, UINT64_MAX));
    case ValueType::Size:
      return bounded(parse_size(value));
    case ValueType::CountOrNever:
      return value == "never" ? "" : bounded(parse_uint(value, 0, UINT64_MAX));
    case ValueType::Duration:
      return bounded(parse_duration_ms(value));
    case ValueType::Choice:
      return in_choices(spec.choices, value) ? "" : "not one of the accepted values";
    case ValueType::File:
      if (value.empty() || access(std::string(value).c_str(), R_OK) == 0) return "";
      return "cannot be read";
    case ValueType::PostgresUri:
      return check_postgres_uri(value);
    case ValueType::BrokerUri:
      return check_broker_uri(value, kind);
    case ValueType::BridgeList:
      return "";  // parsed, with its own messages, by the loader
    case ValueType::Identifier:
      return valid_slot_name(value) ? "" : "not a valid name";
    case ValueType::TableName: {
      size_t dot = value.find('.');
      bool valid = value.empty() || (dot == std::string_view::npos ? valid_slot_name(value)
                                                                  : valid_slot_name(value.substr(0, dot)) &&
                                                                        valid_slot_name(value.substr(dot + 1)));
      return valid ? "" : "not a valid table name";
    }
    case ValueType::Wal2jsonParams: {
      std::string error;
      return parse_wal2json_params(value, error) ? "" : error;
    }
    case ValueType::HostPort:
      return value.empty() ? "" : check_host_port(value);
    case ValueType::HeaderList:
      return check_header_list(value);
  }
  return "";
}

std::string accepted_schemes(UpstreamKind kind) {
  switch (kind) {
    case UpstreamKind::Amqp: return "amqp:// or amqps://";
    case UpstreamKind::Mqtt: return "mqtt://, tcp://, mqtts://, ssl://, ws:// or wss://";
    case UpstreamKind::Redis: return "redis://";
    case UpstreamKind::Webhook:
    case UpstreamKind::AwsSns:
    case UpstreamKind::AwsSqs:
    case UpstreamKind::AwsLambda: return "http:// or https://";
    case UpstreamKind::Nats: return "nats:// or tls://";
    case UpstreamKind::Kafka: return "kafka://host:9092[,host:9092...]";
  }
  return "";
}

int default_port(UpstreamKind kind, std::string_view scheme) {
  switch (kind) {
    case UpstreamKind::Amqp:
      if (scheme == "amqp") return 5672;
      if (scheme == "amqps") return 5671;
      return 0;
    case UpstreamKind::Mqtt:
      if (scheme == "mqtt" || scheme == "tcp") return 1883;
      if (scheme == "mqtts" || scheme == "ssl") return 8883;
      if (scheme == "ws") return 80;
      if (scheme == "wss") return 443;
      return 0;
    case UpstreamKind::Redis:
      return scheme == "redis" ? 6379 : 0;
    case UpstreamKind::Webhook:
    case UpstreamKind::AwsSns:
    case UpstreamKind::AwsSqs:
    case UpstreamKind::AwsLambda:
      if (scheme == "http") return 80;
      if (scheme == "https") return 443;
      return 0;
    case UpstreamKind::Nats:
      return scheme == "nats" || scheme == "tls" ? 4222 : 0;
    case UpstreamKind::Kafka:
      return scheme == "kafka" ? 9092 : 0;
  }
  return 0;
}

std::optional<std::string> kafka_bootstrap_servers(std::string_view uri, std::string& error) {
  constexpr std::string_view kScheme = "kafka://";
  if (uri.substr(0, kScheme.size()) != kScheme) {
    error = "expected kafka://host:9092[,host:9092...]";
    return std::nullopt;
  }
  std::string servers;
  std::string_view rest = uri.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  for (size_t start = 0; start <= rest.size();) {
    size_t comma = std::min(rest.find(',', start), rest.size());
    std::string_view server = trim(rest.substr(start, comma - start));
    start = comma + 1;
    size_t colon = server.rfind(':');
    bool bracketed = !server.empty() && server.front() == '[';
    bool has_port = colon != std::string_view::npos && (!bracketed || server[colon - 1] == ']');
    std::string_view host = has_port ? server.substr(0, colon) : server;
    if (host.empty() || host.find_first_of("/@?# ") != std::string_view::npos ||
        (has_port && !parse_uint(server.substr(colon + 1), 1, 65535))) {
      error = "\"" + std::string(server) + "\" is not host or host:port; expected kafka://host:9092[,host:9092...]";
      return std::nullopt;
    }
    servers += (servers.empty() ? "" : ",") + std::string(host) + ":" +
               (has_port ? std::string(server.substr(colon + 1)) : std::string("9092"));
  }
  return servers;
}

bool is_aws_kind(UpstreamKind kind) {
  return kind == UpstreamKind::AwsSns || kind == UpstreamKind::AwsSqs || kind == UpstreamKind::AwsLambda;
}

bool scheme_uses_tls(std::string_view scheme) {
  return scheme == "amqps" || scheme == "mqtts" || scheme == "ssl" || scheme == "wss" || scheme == "https" ||
         scheme == "tls";
}

std::vector<std::pair<std::string, std::string>> parse_header_list(std::string_view value) {
  return split_pairs(value, ':');  // checked: every item has its ':'
}

std::string displayed_value(std::string_view key, std::string_view value) {
  if (value.empty()) return "";
  std::string lowered = to_lower(key);
  bool password_key = lowered.find("password") != std::string::npos &&
                      lowered.find("_file") == std::string::npos;
  if (password_key) return "****";
  return mask_uri_password(value);
}

}  // namespace pgep
