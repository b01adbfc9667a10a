#include "workers/mqtt_websocket_publisher.h"

#include <mqtt/async_client.h>

#include <stdexcept>

#include "workers/seq_token.h"

namespace pgep {

namespace {

// What a failed connect's return code means: an MQTT 3.1.1 CONNACK code, or a paho error.
std::string connect_failure(int code) {
  if (code == -1) return "no connection (refused, unreachable or timed out)";
  if (code > 0 && code <= 5) return connack_reason(code);
  return "paho error " + std::to_string(code);
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
struct MqttWebsocketPublisher::Session {
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

MqttWebsocketPublisher::MqttWebsocketPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : listener_(listener), options_(MqttOptions::from(settings)), events_(std::make_shared<MqttEvents>()) {
  std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
  server_uri_ = options_.scheme + "://" + host + ":" + std::to_string(options_.port);
  if (!options_.path.empty()) server_uri_ += "/" + options_.path;

  wakeup_ = UvHandle<uv_async_t>([&](uv_async_t* a) {
    return uv_async_init(loop, a, [](uv_async_t* handle) {
      auto* self = static_cast<MqttWebsocketPublisher*>(handle->data);
      if (self) self->deliver_events();
    });
  });
  wakeup_.get()->data = this;
  events_->wakeup = wakeup_.get();
}

MqttWebsocketPublisher::~MqttWebsocketPublisher() {
  events_->close();  // before the async handle goes: paho's threads may still post
  drop_session();
}

void MqttWebsocketPublisher::connect() {
  drop_session();
  uint64_t generation = ++generation_;
  auto session = std::make_unique<Session>(events_, generation);
  try {
    // Buffering must hold the whole window, or paho refuses with "No more messages can be buffered".
    session->client = std::make_unique<mqtt::async_client>(server_uri_, options_.client_id,
                                                           mqtt::create_options(MQTTVERSION_3_1_1, options_.window + 16));
    std::shared_ptr<MqttEvents> events = events_;
    session->client->set_connection_lost_handler([events, generation](const std::string& cause) {
      events->post({MqttEvents::Kind::Lost, generation, 0, "connection lost" + (cause.empty() ? "" : ": " + cause)});
    });
    mqtt::connect_options options;
    options.set_clean_session(true);
    options.set_keep_alive_interval(options_.keepalive_s);
    options.set_automatic_reconnect(false);
    options.set_max_inflight(options_.window);
    options.set_connect_timeout(10);
    if (!options_.username.empty()) options.set_user_name(options_.username);
    if (!options_.password.empty()) options.set_password(options_.password);
    if (options_.tls) {
      mqtt::ssl_options ssl;
      if (!options_.tls_ca_file.empty()) ssl.set_trust_store(options_.tls_ca_file);
      if (!options_.tls_cert_file.empty()) ssl.set_key_store(options_.tls_cert_file);
      if (!options_.tls_key_file.empty()) ssl.set_private_key(options_.tls_key_file);
      ssl.set_enable_server_cert_auth(options_.tls_verify);
      ssl.set_verify(options_.tls_verify);
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

void MqttWebsocketPublisher::publish(const ipc::Publish& message) {
  if (!session_) return;
  if (std::optional<std::string> problem = mqtt_topic_problem(message.routing_key)) {
    return listener_.on_unroutable(message.seq, *problem);
  }
  try {
    session_->client->publish(message.routing_key, message.body.data(), message.body.size(), options_.qos, false,
                              seq_as_pointer(message.seq), session_->publish_listener);
  } catch (const mqtt::exception& e) {
    events_->post({MqttEvents::Kind::Lost, generation_, 0, std::string("publish failed: ") + e.what()});
  }
}

void MqttWebsocketPublisher::disconnect() { drop_session(); }

void MqttWebsocketPublisher::drop_session() {
  ++generation_;  // whatever the old connection still reports is stale
  session_.reset();
}

void MqttWebsocketPublisher::deliver_events() {
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
