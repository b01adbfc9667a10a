#include "supervisor/unverified_peers.h"

#include <arpa/inet.h>

#include "shared/config_options.h"
#include "shared/uri.h"
#include "shared/values.h"
#include "supervisor/sources/host_lookup.h"

namespace pgep {

namespace {

void check_database(const DatabaseSettings& database, const ConfigInput& input, std::vector<std::string>& warnings) {
  HostList list = hosts_of(database.uri);
  std::string sslmode = !list.sslmode.empty() ? list.sslmode : input.variable("PGSSLMODE");
  if (sslmode.empty()) sslmode = "prefer";
  if (sslmode == "verify-ca" || sslmode == "verify-full") return;
  std::vector<std::string> hosts = list.hosts;
  if (hosts.empty() && !input.variable("PGHOST").empty()) hosts = split_host_list(input.variable("PGHOST"));
  for (const std::string& host : hosts) {
    if (is_loopback_host(host)) continue;
    warnings.push_back("the database host " + host + " is not on this machine and sslmode is " + sslmode +
                       ": its certificate is not checked, so anyone on the path may read the connection "
                       "(the password too) or pose as PostgreSQL; expected sslmode=verify-full and sslrootcert=CA_FILE "
                       "in [database] uri");
  }
}

// Kafka's URI lists brokers; TLS is librdkafka's security.protocol, among its properties.
void check_kafka(const UpstreamSettings& upstream, std::vector<std::string>& warnings) {
  std::string ignored;
  std::optional<std::string> servers = kafka_bootstrap_servers(upstream.uri, ignored);
  if (!servers) return;
  std::string properties = to_lower(upstream.options.count("properties") ? upstream.options.at("properties") : "");
  bool tls = properties.find("security.protocol=ssl") != std::string::npos ||
             properties.find("security.protocol=sasl_ssl") != std::string::npos;
  for (size_t start = 0; start < servers->size();) {
    size_t comma = std::min(servers->find(',', start), servers->size());
    std::string server = servers->substr(start, comma - start);
    start = comma + 1;
    std::string host = server.substr(0, server.rfind(':'));
    if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (tls || is_loopback_host(host)) continue;
    return warnings.push_back("upstream " + upstream.name + " (" + host +
                              ") is not on this machine and its connection is not encrypted: anyone on the path may "
                              "read the messages; expected security.protocol=SSL or SASL_SSL in properties");
  }
}

void check_upstream(const UpstreamSettings& upstream, std::vector<std::string>& warnings) {
  if (upstream.kind == UpstreamKind::Kafka) return check_kafka(upstream, warnings);
  std::string ignored;
  std::optional<Uri> uri = parse_uri(upstream.uri, ignored);
  if (!uri || is_loopback_host(uri->host)) return;
  std::string where = "upstream " + upstream.name + " (" + uri->host + ")";
  if (!scheme_uses_tls(uri->scheme)) {
    warnings.push_back(where + " is not on this machine and " + uri->scheme +
                       ":// is not encrypted: anyone on the path may read the messages and the password" +
                       (upstream.kind == UpstreamKind::Redis ? ""
                        : upstream.kind == UpstreamKind::Webhook || is_aws_kind(upstream.kind) ? "; expected https://"
                        : upstream.kind == UpstreamKind::Nats ? "; expected tls://"
                                                                 : "; expected a TLS scheme (amqps://, mqtts://)"));
  } else if (auto verify = upstream.options.find("tls_verify");
             verify != upstream.options.end() && parse_bool(verify->second) == false) {
    warnings.push_back(where + " is not on this machine and tls_verify is false: anyone on the path may pose as "
                       "the broker; expected tls_verify = true, with tls_ca_file if the system's CAs do not know it");
  }
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (host.empty() || host[0] == '/' || host[0] == '@' || host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::vector<std::string> unverified_peers(const Config& config, const ConfigInput& input) {
  std::vector<std::string> warnings;
  check_database(config.database, input, warnings);
  for (const UpstreamSettings& upstream : config.upstreams) check_upstream(upstream, warnings);
  return warnings;
}

}  // namespace pgep
