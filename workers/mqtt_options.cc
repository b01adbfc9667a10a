#include "workers/mqtt_options.h"

#include <simdjson.h>
#include <unistd.h>

#include <stdexcept>

#include "shared/config_options.h"
#include "shared/uri.h"

namespace pgep {

namespace {

constexpr size_t kMaxTopicBytes = 65535;

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

MqttOptions MqttOptions::from(const Settings& settings) {
  std::string error;
  std::optional<Uri> uri = parse_uri(settings.text("uri"), error);
  if (!uri) throw std::runtime_error("mqtt uri: " + error);
  MqttOptions o;
  o.scheme = uri->scheme;
  o.host = uri->host;
  o.port = uri->port.value_or(default_port(UpstreamKind::Mqtt, uri->scheme));
  if (uri->path) o.path = *uri->path;
  o.tls = scheme_uses_tls(uri->scheme);
  o.username = uri->user ? *uri->user : settings.text("username");
  o.password = uri->password ? *uri->password : settings.text("password");
  o.client_id = settings.text("client_id");
  if (o.client_id.empty()) o.client_id = "pgep-" + host_name() + "-" + std::to_string(getpid());
  o.qos = static_cast<int>(settings.number("qos"));
  o.keepalive_s = static_cast<int>(settings.duration_ms("keepalive") / 1000);
  o.window = static_cast<int>(settings.number("max_in_flight"));
  o.tls_ca_file = settings.text("tls_ca_file");
  o.tls_cert_file = settings.text("tls_cert_file");
  o.tls_key_file = settings.text("tls_key_file");
  o.tls_verify = settings.flag("tls_verify");
  return o;
}

std::optional<std::string> mqtt_topic_problem(const std::string& topic) {
  if (topic.empty() || topic.size() > kMaxTopicBytes || topic.find_first_of("+#") != std::string::npos ||
      topic.find('\0') != std::string::npos || !simdjson::validate_utf8(topic.data(), topic.size())) {
    return "\"" + topic.substr(0, 200) +
           "\" is not an MQTT topic one can publish to (empty, a wildcard + or #, a NUL, not UTF-8, or over "
           "65535 bytes)";
  }
  return std::nullopt;
}

std::string connack_reason(int code) {
  switch (code) {
    case 1: return "the broker refused the protocol version (CONNACK 1)";
    case 2: return "the broker refused the client id (CONNACK 2)";
    case 3: return "the broker is unavailable (CONNACK 3)";
    case 4: return "the broker refused the user name or password (CONNACK 4)";
    case 5: return "the broker refused: not authorized (CONNACK 5; check username and password)";
    default: return "the broker refused the connection (CONNACK " + std::to_string(code) + ")";
  }
}

}  // namespace pgep
