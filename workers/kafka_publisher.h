// Kafka (kind kafka): librdkafka's producer, idempotent (enable.idempotence: acks=all, at most 5
// requests in flight per broker, sequence numbers), so the broker drops what librdkafka sends
// twice and each partition keeps the order of what was produced to it, retries included. Each
// event goes to the bridge's topic with the routing key (or the id, or no key: `key`) as the
// message's key, and the headers pgep-id and pgep-channel. Its delivery report acknowledges.
//
// On the worker's libuv loop: librdkafka's main queue signals a pipe when something is to be
// handled (rd_kafka_queue_io_event_enable); a uv_poll on it calls rd_kafka_poll, which runs the
// delivery reports on this thread. librdkafka's own threads do the network.
//
// librdkafka connects by itself, and retries by itself until `timeout` (message.timeout.ms):
// "connected" is said at once, and a delivery that failed for a reason that is not the
// message's own (a broker down too long, a topic that does not exist, a fatal producer error)
// is the broker lost: the producer is dropped and a new one publishes everything unconfirmed.
// A message the broker refused as such (too large, a corrupt record) is refused.
#pragma once

#include <librdkafka/rdkafka.h>
#include <uv.h>

#include <mutex>
#include <string>

#include "shared/settings.h"
#include "shared/uv_handle.h"
#include "workers/publisher.h"

namespace pgep {

class KafkaPublisher : public Publisher {
 public:
  KafkaPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);
  ~KafkaPublisher() override;

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;

 private:
  static void on_delivery(rd_kafka_t* producer, const rd_kafka_message_t* message, void* self);
  static void on_error(rd_kafka_t* producer, int code, const char* reason, void* self);
  static void on_log(const rd_kafka_t* producer, int level, const char* facility, const char* text);
  std::string last_log_suffix();
  bool make_producer(std::string& error);
  void poll();
  void announce_when_reached();
  void lost(const std::string& reason);

  uv_loop_t* loop_;
  PublisherListener& listener_;
  Settings settings_;
  std::string topic_;
  std::string channel_;
  std::string key_;  // routing_key, id or none
  rd_kafka_t* producer_ = nullptr;
  int wake_pipe_[2] = {-1, -1};  // librdkafka writes to [1] when its queue has something
  UvHandle<uv_poll_t> wake_;
  UvHandle<uv_timer_t> poll_timer_;  // librdkafka's own timers (retries, timeouts) between wakes
  bool announced_ = false;          // on_broker_connected said for this producer
  bool all_down_ = false;           // librdkafka said every broker was down, since this producer was made
  uint64_t connect_started_ms_ = 0;
  std::string fatal_;  // a fatal error said by on_error, handled at the end of the poll
  std::mutex log_mutex_;
  std::string last_log_;  // librdkafka's last warning (from its threads), said with a failure
};

}  // namespace pgep
