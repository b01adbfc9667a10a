// Redis: PUBLISH to the topic, or XADD to the stream, pipelined (hiredis async on the worker's
// libuv loop). The reply is the broker's confirmation. PUBLISH's counts the subscribers that
// received the message, which may be none: Redis pub/sub is not durable (see README). XADD's is
// the entry's id: the entry is in the stream, with the fields id, channel, key and body. hiredis 0.14's async context
// has no reply timeout: a connection whose replies stop for kReplyTimeoutMs while some are
// awaited (a half-open connection, a frozen server) is given up, and TCP keepalives are on.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

#include <optional>
#include <string>

#include "shared/settings.h"
#include "shared/uv_handle.h"
#include "workers/publisher.h"

namespace pgep {

class RedisPublisher : public Publisher {
 public:
  RedisPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);
  ~RedisPublisher() override;

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;

 private:
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_setup_reply(redisAsyncContext* context, void* reply, void* privdata);
  static void on_publish_reply(redisAsyncContext* context, void* reply, void* privdata);
  void publish_to_stream(const ipc::Publish& message);
  void lost(const std::string& reason);
  void drop_context();
  void check_replies();

  uv_loop_t* loop_;
  PublisherListener& listener_;
  std::string host_;
  int port_ = 6379;
  std::optional<std::string> user_;
  std::optional<std::string> password_;
  std::string database_;
  bool stream_ = false;        // stream:NAME rather than topic:NAME
  std::string stream_name_;    // NAME
  bool stream_per_key_ = true;
  std::string stream_maxlen_;  // empty: no trimming
  std::string channel_;
  redisAsyncContext* context_ = nullptr;
  UvHandle<uv_timer_t> connect_timer_;
  UvHandle<uv_timer_t> reply_timer_;
  int setup_replies_awaited_ = 0;
  bool ready_ = false;
  uint64_t replies_awaited_ = 0;  // PUBLISHes sent on this connection and not answered
  uint64_t last_reply_ms_ = 0;    // or when the first of them was sent
};

}  // namespace pgep
