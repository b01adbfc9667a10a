#include "workers/mqtt_publisher.h"

#include <mqtt/async_client.h>
#include <simdjson.h>
#include <unistd.h>

#include <stdexcept>

#include "shared/config_options.h"
#include "shared/uri.h"
#include "workers/seq_token.h"

namespace pgep {

namespace {

constexpr size_t kMaxTopicBytes = 65535;

// paho's URI for a scheme pgep accepts.
std::string paho_scheme(const std::string& scheme) {
  if (scheme == "mqtt" || scheme == "tcp") return "tcp";
  if (scheme == "mqtts" || scheme == "ssl") return "ssl";
  return scheme;  // ws, wss
}

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// What a failed connect's return code means: an MQTT 3.1.1 CONNACK code, or a paho error.
std::string connect_failure(int code) {
  switch (code) {
    case 1: return "the broker refused the protocol version (CONNACK 1)";
    case 2: return "the broker refused the client id (CONNACK 2)";
    case 3: return "the broker is unavailable (CONNACK 3)";
    case 4: return "the broker refused the user name or password (CONNACK 4)";
    case 5: return "the broker refused: not authorized (CONNACK 5; check username and password)";
    case -1: return "no connection (refused, unreachable or timed out)";
    default: return "paho error " + std::to_string(code);
  }
}

// Reports a connect's or a publish's outcome from paho's thread.
class Listener : public mqtt::iaction_listener {
 public:
  Listener(std::shared_ptr<MqttEvents> events, uint64_t generation, bool connect)
      : events_(std::move(events)), generation_(generation), connect_(connect) {}

  void on_success(const mqtt::token& token) override {
    if (connect_) return events_->post({MqttEvents::Kind::Connected, generation_, 0, ""});
    events_->post({MqttEvents::Kind::Confirmed, generation_, pointer_as_seq(token.get_user_context()), ""});
  }
  void on_failure(const mqtt::token& token) override {
    int code = token.get_return_code();
    if (connect_) return events_->post({MqttEvents::Kind::Lost, generation_, 0, "connect failed: " + connect_failure(code)});
    events_->post({MqttEvents::Kind::Failed, generation_, pointer_as_seq(token.get_user_context()),
                   "paho error " + std::to_string(code)});
  }

 private:
  std::shared_ptr<MqttEvents> events_;
  uint64_t generation_;
  bool connect_;
};

}  // namespace

void MqttEvents::post(Event event) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!wakeup) return;
  events.push_back(std::move(event));
  uv_async_send(wakeup);
}

std::vector<MqttEvents::Event> MqttEvents::take() {
  std::lock_guard<std::mutex> lock(mutex);
  return std::exchange(events, {});
}

void MqttEvents::close() {
  std::lock_guard<std::mutex> lock(mutex);
  wakeup = nullptr;
  events.clear();
}

// One connection: a paho client and the listeners it refers to, which must outlive it.
struct MqttPublisher::Session {
  Session(std::shared_ptr<MqttEvents> events, uint64_t generation)
      : connect_listener(events, generation, true), publish_listener(events, generation, false) {}
  ~Session() {
    if (!client) return;
    try {
      client->set_connection_lost_handler(nullptr);
      if (client->is_connected()) client->disconnect(0);
    } catch (const mqtt::exception&) {
      // Already gone: nothing to tell the broker.
    }
    client.reset();
  }
  Listener connect_listener;
  Listener publish_listener;
  std::unique_ptr<mqtt::async_client> client;
};

MqttPublisher::MqttPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : listener_(listener), events_(std::make_shared<MqttEvents>()) {
  std::string error;
  std::optional<Uri> uri = parse_uri(settings.text("uri"), error);
  if (!uri) throw std::runtime_error("mqtt uri: " + error);
  tls_ = scheme_uses_tls(uri->scheme);
  int port = uri->port.value_or(default_port(UpstreamKind::Mqtt, uri->scheme));
  std::string host = uri->host.find(':') != std::string::npos ? "[" + uri->host + "]" : uri->host;
  server_uri_ = paho_scheme(uri->scheme) + "://" + host + ":" + std::to_string(port);
  if (uri->path && (uri->scheme == "ws" || uri->scheme == "wss")) server_uri_ += "/" + *uri->path;
  username_ = uri->user ? *uri->user : settings.text("username");
  password_ = uri->password ? *uri->password : settings.text("password");
  client_id_ = settings.text("client_id");
  if (client_id_.empty()) client_id_ = "pgep-" + host_name() + "-" + std::to_string(getpid());
  qos_ = static_cast<int>(settings.number("qos"));
  keepalive_s_ = static_cast<int>(settings.duration_ms("keepalive") / 1000);
  window_ = static_cast<int>(settings.number("max_in_flight"));
  tls_ca_file_ = settings.text("tls_ca_file");
  tls_cert_file_ = settings.text("tls_cert_file");
  tls_key_file_ = settings.text("tls_key_file");
  tls_verify_ = settings.flag("tls_verify");

  wakeup_ = UvHandle<uv_async_t>([&](uv_async_t* a) {
    return uv_async_init(loop, a, [](uv_async_t* handle) {
      auto* self = static_cast<MqttPublisher*>(handle->data);
      if (self) self->deliver_events();
    });
  });
  wakeup_.get()->data = this;
  events_->wakeup = wakeup_.get();
}

MqttPublisher::~MqttPublisher() {
  events_->close();  // before the async handle goes: paho's threads may still post
  drop_session();
}

void MqttPublisher::connect() {
  drop_session();
  uint64_t generation = ++generation_;
  auto session = std::make_unique<Session>(events_, generation);
  try {
    // Buffering must hold the whole window, or paho refuses with "No more messages can be buffered".
    session->client = std::make_unique<mqtt::async_client>(server_uri_, client_id_,
                                                           mqtt::create_options(MQTTVERSION_3_1_1, window_ + 16));
    std::shared_ptr<MqttEvents> events = events_;
    session->client->set_connection_lost_handler([events, generation](const std::string& cause) {
      events->post({MqttEvents::Kind::Lost, generation, 0, "connection lost" + (cause.empty() ? "" : ": " + cause)});
    });
    mqtt::connect_options options;
    options.set_clean_session(true);
    options.set_keep_alive_interval(keepalive_s_);
    options.set_automatic_reconnect(false);
    options.set_max_inflight(window_);
    options.set_connect_timeout(10);
    if (!username_.empty()) options.set_user_name(username_);
    if (!password_.empty()) options.set_password(password_);
    if (tls_) {
      mqtt::ssl_options ssl;
      if (!tls_ca_file_.empty()) ssl.set_trust_store(tls_ca_file_);
      if (!tls_cert_file_.empty()) ssl.set_key_store(tls_cert_file_);
      if (!tls_key_file_.empty()) ssl.set_private_key(tls_key_file_);
      ssl.set_enable_server_cert_auth(tls_verify_);
      ssl.set_verify(tls_verify_);
      options.set_ssl(std::move(ssl));
    }
    session->client->connect(options, nullptr, session->connect_listener);
  } catch (const mqtt::exception& e) {
    session_ = std::move(session);
    drop_session();
    return listener_.on_broker_lost(std::string("cannot connect: ") + e.what());
  }
  session_ = std::move(session);
}

void MqttPublisher::publish(const ipc::Publish& message) {
  if (!session_) return;
  const std::string& topic = message.routing_key;
  if (topic.empty() || topic.size() > kMaxTopicBytes || topic.find_first_of("+#") != std::string::npos ||
      topic.find('\0') != std::string::npos || !simdjson::validate_utf8(topic.data(), topic.size())) {
    return listener_.on_unroutable(message.seq, "\"" + topic.substr(0, 200) +
                                                    "\" is not an MQTT topic one can publish to (empty, a wildcard + "
                                                    "or #, a NUL, not UTF-8, or over 65535 bytes)");
  }
  try {
    session_->client->publish(message.routing_key, message.body.data(), message.body.size(), qos_, false,
                              seq_as_pointer(message.seq), session_->publish_listener);
  } catch (const mqtt::exception& e) {
    events_->post({MqttEvents::Kind::Lost, generation_, 0, std::string("publish failed: ") + e.what()});
  }
}

void MqttPublisher::disconnect() { drop_session(); }

void MqttPublisher::drop_session() {
  ++generation_;  // whatever the old connection still reports is stale
  session_.reset();
}

void MqttPublisher::deliver_events() {
  for (MqttEvents::Event& event : events_->take()) {
    if (event.generation != generation_ || !session_) continue;
    switch (event.kind) {
      case MqttEvents::Kind::Connected:
        listener_.on_broker_connected();
        break;
      case MqttEvents::Kind::Lost:
        drop_session();
        listener_.on_broker_lost(event.reason);
        break;
      case MqttEvents::Kind::Confirmed:
        listener_.on_confirmed(event.seq);
        break;
      case MqttEvents::Kind::Failed:
        // A publish that failed on a live connection: reconnect and resend from a clean state.
        drop_session();
        listener_.on_broker_lost("publish failed: " + event.reason);
        break;
    }
  }
}

}  // namespace pgep
