#include "workers/kafka_publisher.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "shared/config_options.h"
#include "shared/values.h"
#include "workers/seq_token.h"

namespace pgep {

namespace {

constexpr uint64_t kPollEveryMs = 100;

// A delivery error that is the message's own: publishing it again cannot help.
bool message_at_fault(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return true;
    default:
      return false;
  }
}

}  // namespace

KafkaPublisher::KafkaPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : loop_(loop),
      listener_(listener),
      settings_(settings),
      topic_(settings.text(kSettingTarget)),
      channel_(settings.text(kSettingChannel)),
      key_(settings.text("key")),
      poll_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  poll_timer_.get()->data = this;
}

KafkaPublisher::~KafkaPublisher() { disconnect(); }

void KafkaPublisher::connect() {
  disconnect();
  std::string error;
  if (!make_producer(error)) {
    disconnect();
    return listener_.on_broker_lost(error);
  }
  announced_ = false;
  all_down_ = false;
  connect_started_ms_ = uv_now(loop_);
}

bool KafkaPublisher::make_producer(std::string& error) {
  std::optional<std::string> bootstrap = kafka_bootstrap_servers(settings_.text("uri"), error);
  if (!bootstrap) return false;
  char text[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> properties = {
      {"bootstrap.servers", *bootstrap},
      {"enable.idempotence", "true"},  // acks=all, ordered retries without duplicates
      {"message.timeout.ms", std::to_string(settings_.duration_ms("timeout"))},
      {"linger.ms", "1"},
      {"client.id", "pgep"},
  };
  for (auto& property : split_pairs(settings_.text("properties"), '=')) properties.push_back(property);
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), text, sizeof text) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      error = "property " + name + ": " + text;
      return false;
    }
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaPublisher::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &KafkaPublisher::on_error);
  rd_kafka_conf_set_log_cb(conf, &KafkaPublisher::on_log);  // not librdkafka's own lines on stderr
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, text, sizeof text);  // takes conf when it succeeds
  if (!producer_) {
    rd_kafka_conf_destroy(conf);
    error = std::string("cannot make a Kafka producer: ") + text;
    return false;
  }
  if (pipe2(wake_pipe_, O_NONBLOCK | O_CLOEXEC) != 0) {
    error = "pipe: " + std::string(strerror(errno));
    return false;
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_get_main(producer_);
  rd_kafka_queue_io_event_enable(queue, wake_pipe_[1], "1", 1);
  rd_kafka_queue_destroy(queue);
  int fd = wake_pipe_[0];
  wake_ = UvHandle<uv_poll_t>([&](uv_poll_t* p) { return uv_poll_init(loop_, p, fd); });
  wake_.get()->data = this;
  uv_poll_start(wake_.get(), UV_READABLE, [](uv_poll_t* handle, int, int) {
    static_cast<KafkaPublisher*>(handle->data)->poll();
  });
  uv_timer_start(poll_timer_.get(), [](uv_timer_t* t) { static_cast<KafkaPublisher*>(t->data)->poll(); }, kPollEveryMs,
                 kPollEveryMs);
  return true;
}

void KafkaPublisher::poll() {
  char drained[64];
  while (wake_pipe_[0] >= 0 && read(wake_pipe_[0], drained, sizeof drained) > 0) {
  }
  if (producer_) rd_kafka_poll(producer_, 0);  // delivery reports and errors, on this thread
  if (!fatal_.empty()) return lost(std::exchange(fatal_, ""));
  if (producer_ && !announced_) announce_when_reached();
}

// librdkafka connects by itself, later: the broker counts as connected once the cluster has
// answered (its metadata names a controller), after any TLS and SASL handshake. Not before, so
// that a broker that refuses pgep is never said to be connected. A service that speaks Kafka but
// names no controller is taken as connected after `timeout` unless librdkafka said every broker
// was down meanwhile.
void KafkaPublisher::announce_when_reached() {
  uint64_t timeout = settings_.duration_ms("timeout");
  bool waited = uv_now(loop_) - connect_started_ms_ > timeout;
  if (waited && all_down_) {
    return lost("no broker answered within " + std::to_string(timeout / 1000) + " s" + last_log_suffix());
  }
  if (waited || rd_kafka_controllerid(producer_, 0) != -1) {
    announced_ = true;
    listener_.on_broker_connected();
  }
}

void KafkaPublisher::publish(const ipc::Publish& message) {
  if (!producer_) return;
  const std::string& key = key_ == "id" ? message.message_id : message.routing_key;
  bool keyed = key_ != "none" && !key.empty();
  // rd_kafka_produceva's array: the RD_KAFKA_V_ macros of producev are C casts.
  std::vector<rd_kafka_vu_t> values(keyed ? 7 : 6);
  size_t n = 0;
  values[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  values[n++].u.cstr = topic_.c_str();
  values[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  values[n++].u.i = RD_KAFKA_MSG_F_COPY;
  values[n].vtype = RD_KAFKA_VTYPE_VALUE;
  values[n++].u.mem = {const_cast<char*>(message.body.data()), message.body.size()};
  if (keyed) {
    values[n].vtype = RD_KAFKA_VTYPE_KEY;
    values[n++].u.mem = {const_cast<char*>(key.data()), key.size()};
  }
  values[n].vtype = RD_KAFKA_VTYPE_HEADER;
  values[n++].u.header = {"pgep-id", message.message_id.data(), static_cast<ssize_t>(message.message_id.size())};
  values[n].vtype = RD_KAFKA_VTYPE_HEADER;
  values[n++].u.header = {"pgep-channel", channel_.data(), static_cast<ssize_t>(channel_.size())};
  values[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  values[n++].u.ptr = seq_as_pointer(message.seq);
  rd_kafka_error_t* failure = rd_kafka_produceva(producer_, values.data(), n);
  if (!failure) return;
  rd_kafka_resp_err_t error = rd_kafka_error_code(failure);
  std::string reason = rd_kafka_error_string(failure);
  rd_kafka_error_destroy(failure);
  if (message_at_fault(error)) return listener_.on_refused(message.seq, reason);
  lost("produce failed: " + reason);
}

void KafkaPublisher::on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* self = static_cast<KafkaPublisher*>(opaque);
  if (!self->producer_ || !self->fatal_.empty()) return;  // the rest is published again
  uint64_t seq = pointer_as_seq(message->_private);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) return self->listener_.on_confirmed(seq);
  std::string reason = rd_kafka_err2str(message->err);
  if (message_at_fault(message->err)) return self->listener_.on_refused(seq, reason);
  if (message->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || message->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
    reason = "topic " + self->topic_ + " does not exist: " + reason + " (create it, or allow auto.create.topics.enable)";
  }
  self->fatal_ = "delivery failed: " + reason + self->last_log_suffix();
}

// From librdkafka's threads: only the last warning is kept, to say why a delivery failed.
void KafkaPublisher::on_log(const rd_kafka_t* producer, int level, const char*, const char* text) {
  auto* self = static_cast<KafkaPublisher*>(rd_kafka_opaque(producer));
  if (!self || level > 4 || !text) return;
  std::lock_guard<std::mutex> lock(self->log_mutex_);
  self->last_log_ = text;
}

std::string KafkaPublisher::last_log_suffix() {
  std::lock_guard<std::mutex> lock(log_mutex_);
  return last_log_.empty() ? "" : " (last from librdkafka: " + std::exchange(last_log_, "") + ")";
}

void KafkaPublisher::on_error(rd_kafka_t* producer, int code, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaPublisher*>(opaque);
  // A refused login or certificate does not mend by librdkafka's retries, and would otherwise be
  // heard only when a delivery times out (an idle bridge never): the broker is lost at once.
  if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL) {
    self->fatal_ = reason ? reason : rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->all_down_ = true;
  if (code != RD_KAFKA_RESP_ERR__FATAL) return;  // librdkafka retries the others by itself
  char text[512];
  rd_kafka_fatal_error(producer, text, sizeof text);
  self->fatal_ = std::string("the producer failed: ") + text + " (" + reason + ")";
}

void KafkaPublisher::lost(const std::string& reason) {
  disconnect();
  listener_.on_broker_lost(reason);
}

// Drops the producer at once: what it holds unconfirmed is published again by the next one.
void KafkaPublisher::disconnect() {
  uv_timer_stop(poll_timer_.get());
  wake_ = UvHandle<uv_poll_t>();
  if (producer_) {
    rd_kafka_t* producer = producer_;
    producer_ = nullptr;  // delivery reports of the purge below are not heard
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(producer);
  }
  for (int& fd : wake_pipe_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

}  // namespace pgep
