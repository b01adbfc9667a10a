// MQTT 3.1.1 (mqtt://, mqtts://) with libmosquitto driven by the worker's own libuv loop: no
// thread, no lock handed between threads, no copy of a message beyond libmosquitto's packet.
// QoS 0, 1 or 2; an event is confirmed when libmosquitto reports its publish complete (PUBACK
// at QoS 1, PUBCOMP at QoS 2, written at QoS 0). Each connection is a new client with a clean
// session: after a loss the worker publishes everything unconfirmed again, in order.
// ws:// and wss:// are mqtt_websocket_publisher.cc's (paho), which libmosquitto cannot speak.
//
// Why not paho here: docs/decisions.md ("MQTT: libmosquitto on the loop") has the measurements.
#pragma once

#include <mosquitto.h>
#include <uv.h>

#include <memory>
#include <string>
#include <optional>
#include <unordered_map>
#include <vector>

#include "shared/next_turn.h"
#include "shared/settings.h"
#include "shared/uv_handle.h"
#include "workers/mqtt_options.h"
#include "workers/publisher.h"

namespace pgep {

class MqttPublisher : public Publisher {
 public:
  MqttPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);
  ~MqttPublisher() override;

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;

 private:
  struct ClientDeleter {
    void operator()(mosquitto* client) const { mosquitto_destroy(client); }
  };
  // What libmosquitto's callbacks report, kept until its call returns: the listener is told
  // only then, so that nothing it does (publish, disconnect) runs inside libmosquitto.
  struct Reports {
    std::vector<int> completed_mids;
    int connack = -1;  // CONNACK's code once it came
    std::string last_error;  // libmosquitto's last logged error (a TLS failure's reason)
  };

  static void on_connack(mosquitto* client, void* self, int code);
  static void on_publish(mosquitto* client, void* self, int mid);
  static void on_log(mosquitto* client, void* self, int level, const char* text);

  bool configure_client(std::string& error);
  void on_socket(int status, int events);
  void on_tick();
  void flush();
  void watch();
  bool handshaking() const;
  // False (and the listener told) when libmosquitto's call failed.
  bool handle(int rc);
  std::string last_error_suffix() const;
  void deliver_reports();
  void drop_client();
  void fail(const std::string& reason);

  uv_loop_t* loop_;
  PublisherListener& listener_;
  MqttOptions options_;
  std::unique_ptr<mosquitto, ClientDeleter> client_;
  UvHandle<uv_poll_t> poll_;
  int poll_events_ = 0;
  UvHandle<uv_timer_t> tick_;    // keepalive pings, the connect deadline
  NextTurn flush_;               // writes once per loop turn what publish() queued
  std::string deferred_failure_;  // a publish that failed, told at the next loop turn
  bool connected_ = false;       // CONNACK accepted
  uint64_t connect_started_ms_ = 0;
  Reports reports_;
  std::unordered_map<int, uint64_t> seq_by_mid_;  // publishes awaiting completion
};

}  // namespace pgep
