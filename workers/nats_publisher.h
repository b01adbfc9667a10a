// NATS JetStream (kind nats): each event is published asynchronously (js_PublishMsgAsync) to
// the bridge's subject, or SUBJECT.KEY with a routing key, with the header Nats-Msg-Id = the
// event's id: JetStream drops a message it has already stored under that id within the
// stream's duplicate window, so an event published again after a fault is stored once. The
// stream's PubAck acknowledges.
//
// libnats runs its own threads (the socket's reader, each subscription's deliverer, one for
// connection events): the PubAcks and the connection's events arrive on them. They are queued,
// under a mutex, and the worker's loop takes them through a uv_async handle; nothing else of
// this class is touched off the loop. Each answer carries its connection's number, so what a
// closed connection says late is dropped. libnats may call back after a connection is
// destroyed: what its callbacks point to (the Inbox) is never freed while the process runs. Connecting (and declare's stream creation) is a blocking call of up to `timeout`,
// made on the loop: the worker has nothing else to do until it is connected.
//
// libnats's own reconnection is off: a lost connection is the worker's to retry, with its
// backoff, and the unconfirmed events are published again on the next connection.
#pragma once

#include <nats/nats.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/settings.h"
#include "shared/uv_handle.h"
#include "workers/publisher.h"

namespace pgep {

class NatsPublisher : public Publisher {
 public:
  NatsPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);
  ~NatsPublisher() override;

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;

  // What libnats's threads hand to the loop.
  struct Answer {
    uint64_t connection = 0;  // which connection of this publisher it is about
    std::string id;     // the event's id (Nats-Msg-Id); empty: about the connection
    bool ok = false;
    bool refused = false;  // JetStream answered with an error about this message
    std::string error;
  };
  struct Inbox;
  struct Closure;

 private:
  bool open_connection(std::string& error);
  bool declare_stream(std::string& error);
  void take_answers();
  void lost(const std::string& reason);

  PublisherListener& listener_;
  Settings settings_;
  std::string subject_;
  int64_t timeout_ms_;
  int max_in_flight_;
  Inbox* inbox_;  // lives as long as the process (see above)
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  std::unordered_map<std::string, uint64_t> in_flight_;  // the event's id: its seq
};

}  // namespace pgep
