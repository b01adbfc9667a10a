// What both MQTT publishers read from a bridge's settings, and the rules they share: which
// topics one may publish to, and what a refused connection's code means.
#pragma once

#include <optional>
#include <string>

#include "shared/settings.h"

namespace pgep {

struct MqttOptions {
  std::string scheme;  // as written: mqtt, tcp, mqtts, ssl, ws, wss
  std::string host;    // without brackets
  int port = 1883;
  std::string path;    // ws and wss only
  bool tls = false;
  std::string username, password;
  std::string client_id;  // "pgep-HOST-PID" when the settings give none
  int qos = 1;
  int keepalive_s = 30;
  int window = 1000;  // max_in_flight: at most 65535, so MQTT's 16-bit packet ids stay unique
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  bool tls_verify = true;

  // Throws std::runtime_error on a uri it cannot read (the supervisor checked it already).
  static MqttOptions from(const Settings& settings);
  bool websocket() const { return scheme == "ws" || scheme == "wss"; }
};

// Why `topic` cannot be published to (empty, a wildcard, a NUL, not UTF-8, too long), or nullopt.
std::optional<std::string> mqtt_topic_problem(const std::string& topic);

// What a refused connection's CONNACK code (MQTT 3.1.1) means to an operator.
std::string connack_reason(int code);

}  // namespace pgep
