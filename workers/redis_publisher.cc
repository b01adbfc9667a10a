#include "workers/redis_publisher.h"

#include <stdexcept>
#include <vector>

#include "shared/uri.h"
#include "workers/redis_loop.h"
#include "workers/seq_token.h"

namespace pgep {

namespace {

// hiredis 0.14 has no connect timeout, nor a reply timeout, of its own.
constexpr uint64_t kConnectTimeoutMs = 10000;
constexpr uint64_t kReplyTimeoutMs = 10000;
constexpr uint64_t kReplyCheckMs = 1000;

RedisPublisher* owner(const redisAsyncContext* context) {
  return static_cast<RedisPublisher*>(context->data);
}

}  // namespace

RedisPublisher::RedisPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : loop_(loop),
      listener_(listener),
      connect_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      reply_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  std::string error;
  std::optional<Uri> uri = parse_uri(settings.text("uri"), error);
  if (!uri) throw std::runtime_error("redis uri: " + error);
  host_ = uri->host;
  port_ = uri->port.value_or(6379);
  if (uri->user && !uri->user->empty()) user_ = uri->user;
  password_ = uri->password;
  database_ = uri->path.value_or("");
  stream_ = settings.text(kSettingTargetKind) == "stream";
  stream_name_ = settings.text(kSettingTarget);
  stream_per_key_ = settings.flag("stream_per_key");
  if (settings.number("stream_maxlen") > 0) stream_maxlen_ = settings.text("stream_maxlen");
  channel_ = settings.text(kSettingChannel);
  connect_timer_.get()->data = this;
  reply_timer_.get()->data = this;
}

RedisPublisher::~RedisPublisher() { drop_context(); }

void RedisPublisher::connect() {
  drop_context();
  ready_ = false;
  context_ = redisAsyncConnect(host_.c_str(), port_);
  if (!context_ || context_->err) {
    std::string reason = context_ ? context_->errstr : "out of memory";
    if (context_) redisAsyncFree(context_);
    context_ = nullptr;
    return listener_.on_broker_lost(reason);
  }
  context_->data = this;
  if (attach_redis_to_loop(context_, loop_) != REDIS_OK) {
    redisAsyncFree(context_);
    context_ = nullptr;
    return listener_.on_broker_lost("cannot watch the Redis socket");
  }
  redisAsyncSetConnectCallback(context_, on_connect);
  redisAsyncSetDisconnectCallback(context_, on_disconnect);
  redisEnableKeepAlive(&context_->c);  // a peer gone without a word is noticed when idle too
  uv_timer_start(connect_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<RedisPublisher*>(t->data);
    if (!self->ready_) self->lost("no connection after 10 s");
  }, kConnectTimeoutMs, 0);
}

void RedisPublisher::on_connect(const redisAsyncContext* context, int status) {
  RedisPublisher* self = owner(context);
  if (!self) return;
  if (status != REDIS_OK) {
    self->context_ = nullptr;  // hiredis frees it after this callback
    return self->lost(context->errstr);
  }
  // AUTH and SELECT go first; PUBLISH waits until they answered, so a wrong password is
  // one clear error rather than a NOAUTH reply to every message.
  auto* c = const_cast<redisAsyncContext*>(context);
  if (self->password_) {
    ++self->setup_replies_awaited_;
    if (self->user_) {
      redisAsyncCommand(c, on_setup_reply, nullptr, "AUTH %b %b", self->user_->data(), self->user_->size(),
                        self->password_->data(), self->password_->size());
    } else {
      redisAsyncCommand(c, on_setup_reply, nullptr, "AUTH %b", self->password_->data(), self->password_->size());
    }
  }
  if (!self->database_.empty() && self->database_ != "0") {
    ++self->setup_replies_awaited_;
    redisAsyncCommand(c, on_setup_reply, nullptr, "SELECT %b", self->database_.data(), self->database_.size());
  }
  // And a PING, so that a connection is called connected only once Redis answered on it (a
  // peer that accepts and says nothing is not a broker).
  ++self->setup_replies_awaited_;
  redisAsyncCommand(c, on_setup_reply, nullptr, "PING");
  uv_timer_start(self->reply_timer_.get(), [](uv_timer_t* t) {
    static_cast<RedisPublisher*>(t->data)->check_replies();
  }, kReplyCheckMs, kReplyCheckMs);
}

void RedisPublisher::check_replies() {
  uint64_t now = uv_now(loop_);
  if (context_ && replies_awaited_ > 0 && now - last_reply_ms_ >= kReplyTimeoutMs) {
    lost("no reply from Redis for " + std::to_string(kReplyTimeoutMs / 1000) + " s with " +
         std::to_string(replies_awaited_) + " awaited");
  }
}

void RedisPublisher::on_setup_reply(redisAsyncContext* context, void* reply, void*) {
  RedisPublisher* self = owner(context);
  if (!self || !reply) return;
  auto* r = static_cast<redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    std::string reason(r->str, r->len);
    self->disconnect();
    return self->listener_.on_broker_lost("Redis refused the login or database: " + reason);
  }
  if (--self->setup_replies_awaited_ == 0) {
    self->ready_ = true;
    self->listener_.on_broker_connected();
  }
}

void RedisPublisher::on_disconnect(const redisAsyncContext* context, int status) {
  RedisPublisher* self = owner(context);
  if (!self) return;
  self->context_ = nullptr;  // hiredis frees it after this callback
  self->lost(status == REDIS_OK ? "connection closed" : context->errstr);
}

void RedisPublisher::publish(const ipc::Publish& message) {
  if (!context_) return;
  if (replies_awaited_++ == 0) last_reply_ms_ = uv_now(loop_);
  if (stream_) return publish_to_stream(message);
  // The argv form: hiredis's format string parsing (vfprintf) cost more than the command.
  const char* argv[] = {"PUBLISH", message.routing_key.data(), message.body.data()};
  size_t lengths[] = {7, message.routing_key.size(), message.body.size()};
  redisAsyncCommandArgv(context_, on_publish_reply, seq_as_pointer(message.seq), 3, argv, lengths);
}

// XADD NAME[.key] [MAXLEN ~ N] * id ID channel CHANNEL key KEY body BODY. For a stream the
// routing key is the event's key alone (shared/routing.cc): it names the stream and is a field.
void RedisPublisher::publish_to_stream(const ipc::Publish& message) {
  const std::string& key = message.routing_key;
  std::string stream = stream_per_key_ && !key.empty() ? stream_name_ + "." + key : stream_name_;
  std::vector<const char*> argv = {"XADD", stream.data()};
  std::vector<size_t> lengths = {4, stream.size()};
  if (!stream_maxlen_.empty()) {
    argv.insert(argv.end(), {"MAXLEN", "~", stream_maxlen_.data()});
    lengths.insert(lengths.end(), {6, 1, stream_maxlen_.size()});
  }
  argv.insert(argv.end(), {"*", "id", message.message_id.data(), "channel", channel_.data(), "key", key.data(),
                           "body", message.body.data()});
  lengths.insert(lengths.end(), {1, 2, message.message_id.size(), 7, channel_.size(), 3, key.size(), 4,
                                 message.body.size()});
  redisAsyncCommandArgv(context_, on_publish_reply, seq_as_pointer(message.seq), static_cast<int>(argv.size()),
                        argv.data(), lengths.data());
}

void RedisPublisher::on_publish_reply(redisAsyncContext* context, void* reply, void* privdata) {
  RedisPublisher* self = owner(context);
  if (!self || !reply) return;  // a reply freed with its connection: the worker resends
  auto* r = static_cast<redisReply*>(reply);
  uint64_t seq = pointer_as_seq(privdata);
  if (self->replies_awaited_ > 0) --self->replies_awaited_;
  self->last_reply_ms_ = uv_now(self->loop_);
  if (r->type == REDIS_REPLY_ERROR) {
    return self->listener_.on_refused(seq, std::string(r->str, r->len));
  }
  self->listener_.on_confirmed(seq);
}

void RedisPublisher::lost(const std::string& reason) {
  drop_context();
  listener_.on_broker_lost(reason);
}

void RedisPublisher::disconnect() { drop_context(); }

void RedisPublisher::drop_context() {
  uv_timer_stop(connect_timer_.get());
  uv_timer_stop(reply_timer_.get());
  setup_replies_awaited_ = 0;
  replies_awaited_ = 0;
  ready_ = false;
  if (!context_) return;
  redisAsyncContext* context = context_;
  context_ = nullptr;
  context->data = nullptr;  // its remaining callbacks must not reach this object
  redisAsyncFree(context);
}

}  // namespace pgep
