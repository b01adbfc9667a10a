// Gives the raw key/value pairs of config_source.cc their meaning: maps the seed's [local]
// format onto [database] and [upstream.local], lets the environment override the file, reads
// KEY_file secrets, applies defaults and checks every value against config_options.cc.
#include <map>

#include "shared/config.h"
#include "shared/config_options.h"
#include "shared/config_source.h"
#include "shared/log.h"
#include "shared/pgoutput_body_options.h"
#include "shared/uri.h"
#include "shared/values.h"

namespace pgep {

namespace {

constexpr std::string_view kSeedUpstreamName = "local";
constexpr std::string_view kUpstreamPrefix = "upstream.";
constexpr size_t kMaxUpstreamName = 64;

struct Entry {
  std::string value;
  std::string where;
  std::string written_as;
  bool from_environment = false;
  std::string secret_file;  // set when the value is to be read from this file (KEY_file)
};
using Section = std::map<std::string, Entry>;

bool valid_upstream_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxUpstreamName) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class Loader {
 public:
  Loader(const ConfigInput& input, std::vector<ConfigError>& errors)
      : input_(input), errors_(errors) {}

  Config load(const std::vector<RawEntry>& raw) {
    Config config;
    merge(raw);
    check_sections();
    load_daemon(config.daemon);
    load_database(config.database);
    for (auto& [name, section] : sections_) {
      if (name.compare(0, kUpstreamPrefix.size(), kUpstreamPrefix) != 0) continue;
      UpstreamSettings upstream;
      upstream.name = name.substr(kUpstreamPrefix.size());
      if (load_upstream(section, upstream)) config.upstreams.push_back(std::move(upstream));
    }
    if (!has_upstream_section()) {
      error("configuration", "", "", false,
            "no upstream is configured; expected [upstream.NAME] sections (or the seed's "
            "[local.upstream_config] with [local] upstream)");
    }
    return config;
  }

 private:
  void error(std::string where, std::string key, std::string value, bool has_value,
             std::string problem) {
    errors_.push_back({std::move(where), std::move(key), std::move(value), has_value,
                       std::move(problem)});
  }

  // The seed's [local] keys live in [database] and [upstream.local] from here on; messages
  // still name them as written.
  static void translate_seed(RawEntry& entry, bool& seed, bool& multi) {
    if (entry.section == "local") {
      seed = true;
      if (entry.key == "postgresql_uri") {
        entry.section = "database";
        entry.key = "uri";
      } else if (entry.key == "upstream") {
        entry.section = std::string(kUpstreamPrefix) + std::string(kSeedUpstreamName);
        entry.key = "kind";
      } else if (entry.key == "replication_slot" || entry.key == "wal2json_params" || entry.key == "output_plugin" ||
                 entry.key == "publication") {
        entry.section = "database";
      }
    } else if (entry.section == "local.upstream_config") {
      seed = true;
      entry.section = std::string(kUpstreamPrefix) + std::string(kSeedUpstreamName);
    } else if (entry.section == "database" ||
               entry.section.compare(0, kUpstreamPrefix.size(), kUpstreamPrefix) == 0) {
      multi = true;
    }
  }

  void merge(const std::vector<RawEntry>& raw) {
    bool seed = false;
    bool multi = false;
    for (RawEntry entry : raw) {
      translate_seed(entry, seed, multi);
      Entry merged{entry.value, entry.where, entry.written_as, entry.from_environment, ""};
      std::string key = entry.key;
      // KEY_file: the value of KEY is read from the named file (for docker and k8s secrets).
      constexpr std::string_view kFileSuffix = "_file";
      if (key.size() > kFileSuffix.size() && key.ends_with(kFileSuffix) && !is_known_key(key)) {
        std::string base = key.substr(0, key.size() - kFileSuffix.size());
        if (is_known_key(base)) {
          key = base;
          merged.secret_file = entry.value;
        }
      }
      Section& section = sections_[entry.section];
      auto found = section.find(key);
      if (found != section.end() && found->second.from_environment == merged.from_environment) {
        error(merged.where, merged.written_as, "", false,
              "given together with " + found->second.written_as + "; expected only one of them");
        continue;
      }
      section[key] = std::move(merged);  // the environment, read last, wins over the file
    }
    if (seed && multi) {
      error("configuration", "", "", false,
            "mixes the seed format ([local], [local.upstream_config], PGPROXY_LOCAL-...) with "
            "the multi-upstream format ([database], [upstream.NAME]); expected one of them");
    }
    seed_format_ = seed && !multi;
  }

  bool has_upstream_section() const {
    for (const auto& [name, section] : sections_) {
      if (name.compare(0, kUpstreamPrefix.size(), kUpstreamPrefix) == 0) return true;
    }
    return false;
  }

  void check_sections() {
    for (const auto& [name, section] : sections_) {
      bool known = name == "pgep" || name == "database" || name == "local" ||
                   name.compare(0, kUpstreamPrefix.size(), kUpstreamPrefix) == 0;
      if (known) continue;
      const Entry& first = section.begin()->second;
      error(first.where, "[" + name + "]", "", false,
            "unknown section; expected [pgep], [database] or [upstream.NAME] (or the seed's "
            "[local] and [local.upstream_config])");
    }
  }

  // How a key would be written by the user, for messages about keys that are missing.
  std::string written_name(const std::string& section, std::string_view key) const {
    std::string sec = section;
    std::string k(key);
    std::string seed_upstream = std::string(kUpstreamPrefix) + std::string(kSeedUpstreamName);
    if (seed_format_ && section == "database") {
      sec = "local";
      if (k == "uri") k = "postgresql_uri";
    } else if (seed_format_ && section == seed_upstream) {
      sec = k == "kind" ? "local" : "local.upstream_config";
      if (k == "kind") k = "upstream";
    }
    std::string env = "PGPROXY_";
    for (char c : sec) env += c == '.' ? '-' : c;
    env = upper(env + "-" + k);
    return "[" + sec + "] " + k + " (" + env + ")";
  }

  // Checks every key of `section` against `table`, reads KEY_file values and fills defaults.
  // Returns the resolved values; adds an error for each problem.
  std::map<std::string, std::string> resolve(const std::string& name, Section& section,
                                             std::span<const OptionSpec> table,
                                             UpstreamKind kind) {
    std::map<std::string, std::string> values;
    for (auto& [key, entry] : section) {
      const OptionSpec* spec = find_option(table, key);
      if (!spec) {
        // [local] keeps only the keys the seed does not move elsewhere.
        error(entry.where, entry.written_as, entry.value, true,
              "unknown key; expected one of " + key_list(name, table));
        continue;
      }
      if (!entry.secret_file.empty()) {
        std::string problem;
        if (!read_secret_file(entry.secret_file, entry.value, problem)) {
          error(entry.where, entry.written_as, entry.secret_file, true, problem);
          continue;
        }
      }
      std::string problem = check_option(*spec, entry.value, kind);
      if (!problem.empty()) {
        error(entry.where, entry.written_as, displayed_value(key, entry.value), true,
              problem + "; expected " + std::string(spec->expected));
        continue;
      }
      values[key] = entry.value;
    }
    for (const OptionSpec& spec : table) {
      if (section.count(std::string(spec.key))) continue;
      if (spec.default_value) {
        values[std::string(spec.key)] = std::string(*spec.default_value);
      } else {
        error("configuration", written_name(name, spec.key), "", false,
              "missing; expected " + std::string(spec.expected));
      }
    }
    return values;
  }

  std::string key_list(const std::string& section, std::span<const OptionSpec> table) const {
    std::string list;
    for (const OptionSpec& spec : table) {
      if (!list.empty()) list += ", ";
      list += spec.key;
    }
    if (section == "local") return "postgresql_uri, upstream, replication_slot, wal2json_params, output_plugin, publication";
    return list;
  }

  void load_daemon(DaemonSettings& daemon) {
    Section& section = sections_["pgep"];
    daemon.values = resolve("pgep", section, daemon_options(), UpstreamKind::Amqp);
    auto& v = daemon.values;
    daemon.metrics_listen = v["metrics_listen"];
    daemon.log_level = log_level_from(v["log_level"]);
    daemon.log_format = log_format_from(v["log_format"]);
    daemon.log_output = log_output_from(v["log_output"]);
    daemon.log_messages = parse_bool(v["log_messages"]).value_or(false);
    daemon.ledger_max_events = parse_uint(v["ledger_max_events"], 0, UINT64_MAX).value_or(0);
    daemon.ledger_max_bytes = parse_size(v["ledger_max_bytes"]).value_or(0);
    daemon.pid_file = v["pid_file"];
    if (v["state_directory"].empty()) v["state_directory"] = default_state_directory();
    daemon.state_directory = v["state_directory"];
    if (v["control_socket"].empty()) v["control_socket"] = default_control_socket(daemon.state_directory);
    daemon.control_socket = v["control_socket"];
    daemon.state_file = v["state_file"];
    daemon.state_table = v["state_table"];
    if (!daemon.state_file.empty() && !daemon.state_table.empty()) {
      error("configuration", "[pgep] state_table", daemon.state_table, true,
            "given with state_file; expected one place for the state: a file or a table, not both");
    }
    daemon.shutdown_timeout_ms = parse_duration_ms(v["shutdown_timeout"]).value_or(0);
    daemon.active_standby = parse_bool(v["active_standby"]).value_or(true);
    daemon.takeover_timeout_ms = parse_duration_ms(v["takeover_timeout"]).value_or(10000);
  }

  // Never in /tmp, where another user could take the name first (docs/security.md). systemd's
  // RuntimeDirectory= and StateDirectory= come first: the packaged unit runs pgep as user pgep.
  std::string default_control_socket(const std::string& state_directory) const {
    if (!first_of(env("RUNTIME_DIRECTORY")).empty()) return first_of(env("RUNTIME_DIRECTORY")) + "/pgep.sock";
    if (input_.uid == 0) return "/run/pgep/pgep.sock";
    if (!env("XDG_RUNTIME_DIR").empty()) return env("XDG_RUNTIME_DIR") + "/pgep.sock";
    return state_directory + "/pgep.sock";
  }

  std::string env(const char* name) const { return input_.variable(name); }

  // systemd gives a list, separated by ':', when a unit names several directories.
  static std::string first_of(const std::string& list) { return list.substr(0, list.find(':')); }

  std::string default_state_directory() {
    if (!first_of(env("STATE_DIRECTORY")).empty()) return first_of(env("STATE_DIRECTORY"));
    if (input_.uid == 0) return "/var/lib/pgep";
    std::string base = env("XDG_STATE_HOME");
    if (base.empty() && !env("HOME").empty()) base = env("HOME") + "/.local/state";
    if (base.empty()) {
      error("configuration", "[pgep] state_directory", "", false,
            "has no default: neither XDG_STATE_HOME nor HOME is set; expected a directory for pgep's state");
      return "";
    }
    return base + "/pgep";
  }

  void load_database(DatabaseSettings& database) {
    auto local = sections_.find("local");
    if (local != sections_.end()) {
      resolve("local", local->second, {}, UpstreamKind::Amqp);  // only unknown keys remain
    }
    Section& section = sections_["database"];
    database.values = resolve("database", section, database_options(), UpstreamKind::Amqp);
    database.uri = database.values["uri"];
    database.replication_slot = database.values["replication_slot"];
    database.output_plugin =
        database.values["output_plugin"] == "pgoutput" ? OutputPlugin::Pgoutput : OutputPlugin::Wal2json;
    database.publication = database.values["publication"];
    std::string ignored;
    database.wal2json_params =
        parse_wal2json_params(database.values["wal2json_params"], ignored).value_or(
            std::vector<Wal2jsonParam>{});
    if (!database.wal2json_params.empty()) {
      database.values["wal2json_params"] = format_wal2json_params(database.wal2json_params);
      if (database.output_plugin == OutputPlugin::Pgoutput) check_pgoutput_params(database);
    }
  }

  // pgoutput's bodies are written by pgep as wal2json format 2 would write them: only format 2,
  // and only the options pgoutput sends enough for.
  void check_pgoutput_params(const DatabaseSettings& database) {
    std::string problem;
    if (wal2json_format_version(database.wal2json_params) != 2) {
      problem = "asks for wal2json format 1, but output_plugin = pgoutput writes format 2 bodies only; "
                "expected \"format-version\" '2'";
    } else if (!pgoutput_body_options(database.wal2json_params, problem)) {
      problem += " (docs/pgoutput.md)";
    }
    if (!problem.empty()) {
      error("configuration", written_name("database", "wal2json_params"), database.values.at("wal2json_params"), true,
            problem);
    }
  }

  bool load_upstream(Section& section, UpstreamSettings& upstream) {
    std::string name = std::string(kUpstreamPrefix) + upstream.name;
    const Entry* any = &section.begin()->second;
    if (!valid_upstream_name(upstream.name)) {
      error(any->where, "[" + name + "]", "", false,
            "the upstream name \"" + upstream.name +
                "\" is not 1 to 64 lower-case letters, digits, _ or -");
      return false;
    }
    auto kind_entry = section.find("kind");
    if (kind_entry == section.end()) {
      error("configuration", written_name(name, "kind"), "", false,
            "missing; expected amqp, mqtt, redis, webhook, awssns, awssqs, awslambda, nats or kafka");
      return false;
    }
    std::string kind = to_lower(trim(kind_entry->second.value));
    if (kind == "amqp") upstream.kind = UpstreamKind::Amqp;
    else if (kind == "mqtt") upstream.kind = UpstreamKind::Mqtt;
    else if (kind == "redis") upstream.kind = UpstreamKind::Redis;
    else if (kind == "webhook") upstream.kind = UpstreamKind::Webhook;
    else if (kind == "awssns") upstream.kind = UpstreamKind::AwsSns;
    else if (kind == "awssqs") upstream.kind = UpstreamKind::AwsSqs;
    else if (kind == "awslambda") upstream.kind = UpstreamKind::AwsLambda;
    else if (kind == "nats") upstream.kind = UpstreamKind::Nats;
    else if (kind == "kafka") upstream.kind = UpstreamKind::Kafka;
    else {
      error(kind_entry->second.where, kind_entry->second.written_as, kind, true,
            "unknown upstream kind; expected amqp, mqtt, redis, webhook, awssns, awssqs, awslambda, nats or kafka");
      return false;
    }
    kind_entry->second.value = kind;
    size_t errors_before = errors_.size();
    upstream.options = resolve(name, section, upstream_options(upstream.kind), upstream.kind);
    if (is_aws_kind(upstream.kind)) resolve_aws(name, upstream);
    upstream.uri = upstream.options["uri"];
    load_bridges(section, upstream);
    check_upstream(section, upstream);
    return errors_.size() == errors_before;
  }

  // The AWS kinds: region and credentials from the options, else from the standard AWS_*
  // variables (or AWS_*_FILE, a file holding the value); the endpoint from uri or endpoint, else
  // the region's own.
  void resolve_aws(const std::string& name, UpstreamSettings& upstream) {
    auto& o = upstream.options;
    for (const char* variable : {"AWS_REGION", "AWS_DEFAULT_REGION"}) fill_from_variable(o["region"], variable);
    fill_from_variable(o["access_key_id"], "AWS_ACCESS_KEY_ID");
    fill_from_variable(o["secret_access_key"], "AWS_SECRET_ACCESS_KEY");
    fill_from_variable(o["session_token"], "AWS_SESSION_TOKEN");
    std::string_view region = o["region"];
    if (region.empty()) {
      error("configuration", written_name(name, "region"), "", false,
            "missing; expected an AWS region such as eu-west-1 (or AWS_REGION)");
    } else if (region.size() > 32 || region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string_view::npos) {
      error("configuration", written_name(name, "region"), o["region"], true,
            "not a region name; expected lower-case letters, digits and - such as eu-west-1");
    }
    for (const char* key : {"access_key_id", "secret_access_key"}) {
      if (!o[key].empty()) continue;
      std::string variable = key == std::string_view("access_key_id") ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY";
      error("configuration", written_name(name, key), "", false,
            "missing; expected it here (or " + variable + ", or " + variable + "_FILE naming a file that holds it)");
    }
    if (!o["uri"].empty() && !o["endpoint"].empty()) {
      error("configuration", written_name(name, "endpoint"), o["endpoint"], true,
            "set beside uri; expected the endpoint in one of them only");
    }
    if (o["uri"].empty()) o["uri"] = o["endpoint"];
    if (o["uri"].empty() && !region.empty()) o["uri"] = aws_default_endpoint(upstream.kind, o["region"]);
    o.erase("endpoint");
  }

  static std::string aws_default_endpoint(UpstreamKind kind, const std::string& region) {
    std::string service = kind == UpstreamKind::AwsSns ? "sns" : kind == UpstreamKind::AwsSqs ? "sqs" : "lambda";
    std::string domain = region.rfind("cn-", 0) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    return "https://" + service + "." + region + "." + domain;
  }

  // An option left empty takes the variable, or the content of the file VARIABLE_FILE names.
  void fill_from_variable(std::string& value, const std::string& variable) {
    if (!value.empty()) return;
    value = env(variable.c_str());
    std::string file = env((variable + "_FILE").c_str());
    if (!value.empty() || file.empty()) return;
    std::string problem;
    if (!read_secret_file(file, value, problem)) {
      error("environment", variable + "_FILE", file, true, problem);
      value.clear();
    }
  }

  void load_bridges(Section& section, UpstreamSettings& upstream) {
    auto entry = section.find("bridge_channels");
    if (entry == section.end()) return;  // reported as missing
    std::vector<std::string> problems;
    parse_bridge_channels(entry->second.value, upstream.kind, upstream.bridges, problems);
    for (const std::string& problem : problems) {
      error(entry->second.where, entry->second.written_as, "", false, problem);
    }
    if (problems.empty() && upstream.bridges.empty()) {
      error(entry->second.where, entry->second.written_as, entry->second.value, true,
            "lists no bridge; expected channel->kind:target, ...");
    }
  }

  // Rules that span several keys of one upstream.
  void check_upstream(Section& section, UpstreamSettings& upstream) {
    std::string ignored;
    std::optional<Uri> uri = parse_uri(upstream.uri, ignored);
    if (!uri) return;  // reported by resolve()
    const Entry& uri_entry = section["uri"];
    if (upstream.kind == UpstreamKind::Mqtt) {
      for (const char* key : {"username", "password"}) {
        bool in_uri = std::string_view(key) == "username" ? uri->user.has_value()
                                                          : uri->password.has_value();
        auto option = section.find(key);
        if (in_uri && option != section.end() && !option->second.value.empty()) {
          error(option->second.where, option->second.written_as, "", false,
                std::string("the ") + key + " is also given in " + uri_entry.written_as +
                    "; expected it in one place only");
        }
      }
    }
    if (!scheme_uses_tls(uri->scheme)) {
      for (const char* key : {"tls_ca_file", "tls_cert_file", "tls_key_file"}) {
        auto option = section.find(key);
        if (option == section.end() || option->second.value.empty()) continue;
        error(option->second.where, option->second.written_as, option->second.value, true,
              "set, but the URI's scheme " + uri->scheme +
                  ":// does not use TLS; expected a TLS scheme (amqps://, mqtts://, ssl://, https:// or tls://)");
      }
    }
  }

  const ConfigInput& input_;
  std::vector<ConfigError>& errors_;
  std::map<std::string, Section> sections_;
  bool seed_format_ = false;
};

ConfigResult load_entries(std::vector<RawEntry> raw, std::vector<ConfigError> errors,
                          const ConfigInput& input) {
  read_environment(input.environment, raw, errors);
  ConfigResult result;
  Loader loader(input, errors);
  result.config = loader.load(raw);
  result.errors = std::move(errors);
  return result;
}

}  // namespace

ConfigResult load_config_text(std::string_view text, std::string_view name,
                              const ConfigInput& input) {
  std::vector<RawEntry> raw;
  std::vector<ConfigError> errors;
  read_ini_text(text, name, raw, errors);
  return load_entries(std::move(raw), std::move(errors), input);
}

}  // namespace pgep
