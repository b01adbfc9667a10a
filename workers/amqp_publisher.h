// AMQP 0.9.1 (RabbitMQ) with rabbitmq-c: publisher confirms over a window of unconfirmed
// messages (confirm.select, then basic.ack/nack by delivery tag, often `multiple`), mandatory
// publishes whose basic.return is dropped-and-counted or refused as configured, heartbeats,
// amqps:// with TLS. rabbitmq-c is blocking; the worker's loop watches its socket with a
// uv_poll and reads only what is there.
#pragma once

#include <amqp.h>
#include <uv.h>

#include <map>
#include <set>
#include <string>

#include "shared/settings.h"
#include "shared/uv_handle.h"
#include "workers/publisher.h"

namespace pgep {

class AmqpPublisher : public Publisher {
 public:
  AmqpPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);
  ~AmqpPublisher() override;

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;

 private:
  // Opens, logs in, opens channel 1 in confirm mode and checks (or declares) the target.
  // Returns "" or what failed.
  std::string open_connection();
  std::string check_target();
  void drain_input();
  void handle_method(const amqp_frame_t& frame);
  void confirm(uint64_t tag, bool multiple, bool acked);
  void note_return(const amqp_basic_return_t& method, uint16_t channel);
  // The connection is gone; `by_broker`: the broker closed it over an error of ours.
  void lost(const std::string& reason, bool by_broker = false);
  void close_connection();

  uv_loop_t* loop_;
  PublisherListener& listener_;
  // From the settings.
  std::string host_;
  int port_ = 5672;
  bool tls_ = false;
  std::string user_ = "guest";
  std::string password_ = "guest";
  std::string vhost_ = "/";
  std::string exchange_;       // "" for queue targets (the default exchange)
  std::string target_;
  bool target_is_queue_ = false;
  bool declare_ = false;
  bool persistent_ = false;
  bool drop_unroutable_ = true;
  std::string content_type_;
  int heartbeat_s_ = 30;
  std::string tls_ca_file_, tls_cert_file_, tls_key_file_;
  bool tls_verify_ = true;

  amqp_connection_state_t connection_ = nullptr;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> heartbeat_timer_;
  uint64_t next_tag_ = 1;
  std::map<uint64_t, uint64_t> unconfirmed_;  // delivery tag -> seq
  std::map<uint64_t, std::string> message_ids_;  // delivery tag -> message id, to match returns
  std::map<uint64_t, std::string> returned_;  // delivery tag -> why no queue took it
};

}  // namespace pgep
