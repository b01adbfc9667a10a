// MQTT over WebSocket (ws://, wss://) with paho.mqtt.cpp (async client), which libmosquitto's
// client cannot speak; mqtt_publisher.cc serves mqtt:// and mqtts://. QoS 0, 1 or 2, an event
// confirmed when its publish completes (PUBACK at QoS 1, PUBCOMP at QoS 2). paho runs callbacks on its own threads; they
// are handed to the worker's loop through a uv_async. paho's automatic reconnect and offline
// buffer are off: they can drop QoS 1 messages in flight, and the worker resends anyway.
#pragma once

#include <uv.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shared/settings.h"
#include "shared/uv_handle.h"
#include "workers/mqtt_options.h"
#include "workers/publisher.h"

namespace mqtt {
class async_client;
}

namespace pgep {

// What paho's threads report, queued for the loop thread. Shared with paho's listeners, which
// may outlive the publisher by a callback or two.
struct MqttEvents {
  enum class Kind { Connected, Lost, Confirmed, Failed };
  struct Event {
    Kind kind;
    uint64_t generation;  // the connection it belongs to; older ones are stale
    uint64_t seq;
    std::string reason;
  };

  void post(Event event);
  std::vector<Event> take();
  void close();

  std::mutex mutex;
  std::vector<Event> events;
  uv_async_t* wakeup = nullptr;  // null once closed
};

class MqttWebsocketPublisher : public Publisher {
 public:
  MqttWebsocketPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);
  ~MqttWebsocketPublisher() override;

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;

 private:
  struct Session;
  void deliver_events();
  void drop_session();

  PublisherListener& listener_;
  MqttOptions options_;
  std::string server_uri_;

  std::shared_ptr<MqttEvents> events_;
  UvHandle<uv_async_t> wakeup_;
  std::unique_ptr<Session> session_;
  uint64_t generation_ = 0;
};

}  // namespace pgep
