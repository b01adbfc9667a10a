// The one small interface behind which each broker kind lives (amqp_publisher.cc,
// mqtt_publisher.cc, redis_publisher.cc). A publisher holds one broker connection; the worker
// (worker.cc) decides what to publish, when to reconnect, and what to acknowledge.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "ipc/frame.h"

namespace pgep {

// Told by a publisher, always on the worker's libuv loop thread.
class PublisherListener {
 public:
  virtual ~PublisherListener() = default;
  virtual void on_broker_connected() = 0;
  // The connection failed or was lost; nothing unconfirmed will be confirmed any more.
  virtual void on_broker_lost(const std::string& reason) = 0;
  // The same, but the broker itself closed it with an error (AMQP channel.close): a message
  // alone on the connection (a probe) counts it as a refusal.
  virtual void on_broker_closed(const std::string& reason) = 0;
  // The same as on_broker_lost, and the server asked for `retry_after_ms` of quiet (HTTP's
  // Retry-After on a 429 or a 503): the next attempt waits at least that long.
  virtual void on_broker_away(const std::string& reason, uint64_t retry_after_ms) = 0;
  // The broker stops taking messages for now (RabbitMQ's connection.blocked: a memory or disk
  // alarm), or takes them again. Nothing is published meanwhile: a publish would block.
  virtual void on_broker_blocked(bool blocked, const std::string& reason) = 0;
  // The broker took responsibility for the message.
  virtual void on_confirmed(uint64_t seq) = 0;
  // The broker refused the message (AMQP nack, a return with unroutable = error, a Redis
  // error reply). The worker resends it after reconnecting.
  virtual void on_refused(uint64_t seq, const std::string& reason) = 0;
  // One event of a batch the service did not take this time through no fault of the event's (an
  // entry's server-side failure in an AWS batch): like a refusal, it alone is published again
  // after a backoff, but it does not count toward dead_letter_after.
  virtual void on_retry(uint64_t seq, const std::string& reason) = 0;
  // A message that will never be delivered, logged and counted, then treated as confirmed:
  // one no queue took (AMQP, unroutable = drop), or one the broker's protocol cannot carry
  // (an AMQP routing key over 255 bytes, an MQTT topic holding a wildcard). Retrying such a
  // message would stop the bridge for ever. May be called from inside publish().
  virtual void on_unroutable(uint64_t seq, const std::string& reason) = 0;
};

class Publisher {
 public:
  virtual ~Publisher() = default;
  // Starts connecting; the listener hears on_broker_connected or on_broker_lost.
  virtual void connect() = 0;
  // Publishes one message on the current connection (only between on_broker_connected and
  // on_broker_lost). Confirmation arrives later through the listener.
  virtual void publish(const ipc::Publish& message) = 0;
  // Drops the connection (after a refusal, to resend from a clean state).
  virtual void disconnect() = 0;
  // Whether on_broker_connected proves the broker reachable (a session was opened). HTTP has no
  // session: only an answer shows the server is there, so the worker's reconnect backoff starts
  // afresh at the first answer rather than at "connected".
  virtual bool connected_means_reachable() const { return true; }
};

// Builds the publisher for settings["kind"]. Throws std::runtime_error on settings it cannot
// use (they were checked by the supervisor, so this means a version mismatch).
std::unique_ptr<Publisher> make_publisher(uv_loop_t* loop,
                                          const std::map<std::string, std::string>& settings,
                                          PublisherListener& listener);

}  // namespace pgep
