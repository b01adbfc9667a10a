// pgep-bench-consumer: a consumer for the benchmarks that is not the bottleneck. It subscribes
// to one broker with its C client (hiredis, libmosquitto, rabbitmq-c), counts the distinct ids
// of what it receives and the latency of each message, and prints one JSON line when it has
// COUNT distinct ids or when nothing came for --idle seconds.
//
//   pgep-bench-consumer redis URI PATTERN COUNT    PSUBSCRIBE PATTERN
//   pgep-bench-consumer mqtt  URI FILTER  COUNT    SUBSCRIBE FILTER at QoS 1
//   pgep-bench-consumer amqp  URI KEY     COUNT    a queue of its own bound to amq.topic with KEY
//   pgep-bench-consumer redis-stream URI STREAM COUNT   XREAD from the stream's end, the field body
//   pgep-bench-consumer nats  URI SUBJECT COUNT    a core NATS subscription (the stream stores them too)
//
// Bodies it understands: a wal2json format 2 change whose row has the columns "id" (an integer,
// the id counted) and "sent_us" (microseconds since the epoch, when the row was written), and
// scripts/bench's NOTIFY payloads "ID SENT_NS". Other bodies count as received, without an id.
// It prints "ready" on stderr once subscribed.
#include <amqp.h>
#include <hiredis/hiredis.h>
#include <mosquitto.h>
#include <nats/nats.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/clients.h"
#include "shared/uri.h"

namespace {

using pgep::bench::check_amqp;
using pgep::bench::die;
using pgep::bench::open_amqp;

int64_t now_us() { return pgep::bench::clock_us(CLOCK_REALTIME); }
int64_t monotonic_us() { return pgep::bench::clock_us(CLOCK_MONOTONIC); }

std::optional<int64_t> number_at(std::string_view text, size_t at) {
  while (at < text.size() && (text[at] == ' ' || text[at] == '"')) ++at;
  bool negative = at < text.size() && text[at] == '-';
  if (negative) ++at;
  if (at >= text.size() || text[at] < '0' || text[at] > '9') return std::nullopt;
  int64_t value = 0;
  for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at) value = value * 10 + (text[at] - '0');
  return negative ? -value : value;
}

// The value of wal2json format 2's column `name`: {"name":"id",("type":"...",)"value":1}.
std::optional<int64_t> column(std::string_view body, std::string_view name) {
  std::string key = "\"name\":\"" + std::string(name) + "\"";
  size_t at = body.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  size_t value = body.find("\"value\":", at);
  if (value == std::string_view::npos) return std::nullopt;
  return number_at(body, value + 8);
}

class Tally {
 public:
  explicit Tally(uint64_t expected) : expected_(expected), seen_(expected + 1, false) {}

  void add(std::string_view body) {
    int64_t received = now_us();
    if (received_ == 0) first_us_ = monotonic_us();
    last_us_ = monotonic_us();
    ++received_;
    std::optional<int64_t> id, sent_us;
    if (!body.empty() && body[0] >= '0' && body[0] <= '9') {  // "ID SENT_NS"
      id = number_at(body, 0);
      size_t space = body.find(' ');
      if (space != std::string_view::npos) {
        if (auto ns = number_at(body, space + 1)) sent_us = *ns / 1000;
      }
    } else {
      id = column(body, "id");
      sent_us = column(body, "sent_us");
    }
    if (sent_us) latencies_us_.push_back(received - *sent_us);
    if (id && *id >= 0 && static_cast<uint64_t>(*id) < seen_.size() && !seen_[*id]) {
      seen_[*id] = true;
      ++distinct_;
    }
  }

  bool done() const { return distinct_ >= expected_; }
  int64_t idle_for_us() const { return monotonic_us() - (received_ ? last_us_ : started_us_); }

  void print() {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto percentile = [&](double p) -> double {
      if (latencies_us_.empty()) return 0;
      size_t index = std::min(latencies_us_.size() - 1, static_cast<size_t>(p * latencies_us_.size()));
      return latencies_us_[index] / 1000.0;
    };
    double seconds = (last_us_ - first_us_) / 1e6;
    std::printf(
        "{\"received\": %llu, \"distinct\": %llu, \"seconds\": %.3f, \"latency_ms\": {\"count\": %zu, \"p50\": %.3f, "
        "\"p95\": %.3f, \"p99\": %.3f, \"max\": %.3f}}\n",
        static_cast<unsigned long long>(received_), static_cast<unsigned long long>(distinct_), seconds,
        latencies_us_.size(), percentile(0.50), percentile(0.95), percentile(0.99),
        latencies_us_.empty() ? 0.0 : latencies_us_.back() / 1000.0);
    std::fflush(stdout);
  }

 private:
  uint64_t expected_;
  std::vector<bool> seen_;
  uint64_t received_ = 0, distinct_ = 0;
  int64_t started_us_ = monotonic_us(), first_us_ = 0, last_us_ = 0;
  std::vector<int64_t> latencies_us_;
};

void ready() {
  std::fprintf(stderr, "ready\n");
  std::fflush(stderr);
}

void consume_redis(const pgep::Uri& uri, const std::string& pattern, Tally& tally, int idle_s) {
  timeval timeout{idle_s, 0};
  redisContext* redis = redisConnectWithTimeout(uri.host.c_str(), uri.port.value_or(6379), timeout);
  if (!redis || redis->err) die("redis: cannot connect");
  redisSetTimeout(redis, timeout);
  auto* reply = static_cast<redisReply*>(redisCommand(redis, "PSUBSCRIBE %s", pattern.c_str()));
  if (!reply) die("redis: PSUBSCRIBE failed");
  freeReplyObject(reply);
  ready();
  while (!tally.done()) {
    void* raw = nullptr;
    if (redisGetReply(redis, &raw) != REDIS_OK) break;  // the idle timeout
    auto* message = static_cast<redisReply*>(raw);
    if (message->type == REDIS_REPLY_ARRAY && message->elements == 4) {
      tally.add(std::string_view(message->element[3]->str, message->element[3]->len));
    }
    freeReplyObject(message);
  }
  redisFree(redis);
}

void consume_redis_stream(const pgep::Uri& uri, const std::string& stream, Tally& tally, int idle_s) {
  redisContext* redis = redisConnect(uri.host.c_str(), uri.port.value_or(6379));
  if (!redis || redis->err) die("redis: cannot connect");
  std::string last = "$";
  ready();
  while (!tally.done()) {
    auto* reply = static_cast<redisReply*>(redisCommand(redis, "XREAD COUNT 1000 BLOCK %d STREAMS %s %s", idle_s * 1000,
                                                        stream.c_str(), last.c_str()));
    if (!reply) die("redis: connection lost");
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {  // nil: the idle timeout
      freeReplyObject(reply);
      break;
    }
    redisReply* entries = reply->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; ++i) {
      redisReply* entry = entries->element[i];
      last.assign(entry->element[0]->str, entry->element[0]->len);
      redisReply* fields = entry->element[1];
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (std::string_view(fields->element[f]->str, fields->element[f]->len) == "body") {
          tally.add(std::string_view(fields->element[f + 1]->str, fields->element[f + 1]->len));
        }
      }
    }
    freeReplyObject(reply);
  }
  redisFree(redis);
}

void consume_nats(const std::string& url, const std::string& subject, Tally& tally, int idle_s) {
  natsConnection* connection = nullptr;
  natsSubscription* subscription = nullptr;
  if (natsConnection_ConnectTo(&connection, url.c_str()) != NATS_OK) die("nats: cannot connect");
  if (natsConnection_SubscribeSync(&subscription, connection, subject.c_str()) != NATS_OK) die("nats: SUB failed");
  natsSubscription_SetPendingLimits(subscription, -1, -1);
  natsConnection_Flush(connection);
  ready();
  while (!tally.done()) {
    natsMsg* message = nullptr;
    if (natsSubscription_NextMsg(&message, subscription, idle_s * 1000) != NATS_OK) break;  // the idle timeout
    tally.add(std::string_view(natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message))));
    natsMsg_Destroy(message);
  }
  natsSubscription_Destroy(subscription);
  natsConnection_Destroy(connection);
}

struct MqttState {
  Tally* tally;
  bool subscribed = false;
};

void consume_mqtt(const pgep::Uri& uri, const std::string& filter, Tally& tally, int idle_s) {
  mosquitto_lib_init();
  MqttState state{&tally};
  mosquitto* client = mosquitto_new(nullptr, true, &state);
  if (!client) die("mqtt: cannot create a client");
  mosquitto_message_callback_set(client, [](mosquitto*, void* data, const mosquitto_message* message) {
    static_cast<MqttState*>(data)->tally->add(
        std::string_view(static_cast<const char*>(message->payload), message->payloadlen));
  });
  mosquitto_subscribe_callback_set(client, [](mosquitto*, void* data, int, int, const int*) {
    static_cast<MqttState*>(data)->subscribed = true;
    ready();
  });
  if (mosquitto_connect(client, uri.host.c_str(), uri.port.value_or(1883), 60) != MOSQ_ERR_SUCCESS) {
    die("mqtt: cannot connect");
  }
  if (mosquitto_subscribe(client, nullptr, filter.c_str(), 1) != MOSQ_ERR_SUCCESS) die("mqtt: SUBSCRIBE failed");
  while (!tally.done() && !(state.subscribed && tally.idle_for_us() >= int64_t{idle_s} * 1000000)) {
    if (mosquitto_loop(client, 100, 1) != MOSQ_ERR_SUCCESS) die("mqtt: connection lost");
  }
  mosquitto_destroy(client);
}

void consume_amqp(const pgep::Uri& uri, const std::string& key, Tally& tally, int idle_s) {
  amqp_connection_state_t connection = open_amqp(uri);
  amqp_queue_declare_ok_t* queue =
      amqp_queue_declare(connection, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
  check_amqp(amqp_get_rpc_reply(connection), "queue.declare");
  amqp_bytes_t name = amqp_bytes_malloc_dup(queue->queue);
  amqp_queue_bind(connection, 1, name, amqp_cstring_bytes("amq.topic"), amqp_cstring_bytes(key.c_str()),
                  amqp_empty_table);
  check_amqp(amqp_get_rpc_reply(connection), "queue.bind");
  amqp_basic_qos(connection, 1, 0, 5000, 0);
  amqp_basic_consume(connection, 1, name, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  check_amqp(amqp_get_rpc_reply(connection), "basic.consume");
  ready();
  uint64_t unacknowledged = 0;
  while (!tally.done()) {
    timeval timeout{idle_s, 0};
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(connection);
    amqp_rpc_reply_t reply = amqp_consume_message(connection, &envelope, &timeout, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) break;  // the idle timeout, or a frame not a message
    tally.add(std::string_view(static_cast<const char*>(envelope.message.body.bytes), envelope.message.body.len));
    if (++unacknowledged >= 1000) {  // acknowledged in batches, as a consumer that keeps up would
      amqp_basic_ack(connection, 1, envelope.delivery_tag, 1);
      unacknowledged = 0;
    }
    amqp_destroy_envelope(&envelope);
  }
  amqp_bytes_free(name);
  amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(connection);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: pgep-bench-consumer redis|mqtt|amqp|redis-stream|nats URI TARGET COUNT [IDLE_SECONDS]\n");
    return 2;
  }
  std::string kind = argv[1], error;
  std::optional<pgep::Uri> uri = pgep::parse_uri(argv[2], error);
  if (!uri) die("uri: " + error);
  uint64_t count = std::strtoull(argv[4], nullptr, 10);
  int idle_s = argc > 5 ? std::atoi(argv[5]) : 10;
  Tally tally(count);
  if (kind == "redis") {
    consume_redis(*uri, argv[3], tally, idle_s);
  } else if (kind == "mqtt") {
    consume_mqtt(*uri, argv[3], tally, idle_s);
  } else if (kind == "amqp") {
    consume_amqp(*uri, argv[3], tally, idle_s);
  } else if (kind == "redis-stream") {
    consume_redis_stream(*uri, argv[3], tally, idle_s);
  } else if (kind == "nats") {
    consume_nats(argv[2], argv[3], tally, idle_s);
  } else {
    die("unknown kind " + kind);
  }
  tally.print();
  return tally.done() ? 0 : 1;
}
