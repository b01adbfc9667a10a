// pgep-bench-publisher: the broker's own ceiling, without PostgreSQL and without pgep. It
// publishes COUNT messages shaped like pgep's WAL rows through the client library pgep's worker
// uses, with at most WINDOW unconfirmed, and prints one JSON line: how many the broker
// confirmed and how fast.
//
//   pgep-bench-publisher redis URI CHANNEL COUNT WINDOW   PUBLISH, pipelined (hiredis)
//   pgep-bench-publisher mqtt  URI TOPIC   COUNT WINDOW   QoS 1, confirmed by PUBACK (libmosquitto)
//   pgep-bench-publisher amqp  URI KEY     COUNT WINDOW   to amq.topic with publisher confirms (rabbitmq-c)
//   pgep-bench-publisher webhook URL -     COUNT WINDOW   POSTs, a 2xx confirming (pgep's HttpClient, libcurl)
//   pgep-bench-publisher redis-stream URI STREAM COUNT WINDOW   XADD, pipelined (hiredis)
//   pgep-bench-publisher nats URI SUBJECT COUNT WINDOW   JetStream async publish, PubAcks (libnats)
//
// For redis-stream and nats, the stream is emptied first (DEL; a JetStream purge of the stream
// PGEP_BENCHWAL, created as pgep's declare = true does), and COUNT may be 0: a reset alone.
#include <amqp.h>
#include <hiredis/hiredis.h>
#include <mosquitto.h>
#include <nats/nats.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <optional>
#include <string>

#include "bench/clients.h"
#include "workers/http_client.h"
#include "shared/uri.h"

namespace {

using pgep::bench::check_amqp;
using pgep::bench::die;
using pgep::bench::open_amqp;

double monotonic_s() { return static_cast<double>(pgep::bench::clock_us(CLOCK_MONOTONIC)) / 1e6; }

// A wal2json format 2 insert of the benchmark's table, with row `id`.
std::string body(uint64_t id) {
  return "{\"action\":\"I\",\"schema\":\"public\",\"table\":\"benchwal\",\"columns\":[{\"name\":\"id\",\"value\":" +
         std::to_string(id) + "},{\"name\":\"note\",\"value\":\"row " + std::to_string(id) +
         "\"},{\"name\":\"amount\",\"value\":1.25},{\"name\":\"at\",\"value\":\"2026-11-28 07:00:00.000000+00\"}]}";
}

// Commands pipelined, at most `window` unanswered; `append(n)` queues the n-th.
uint64_t pipeline(redisContext* redis, uint64_t count, uint64_t window, const std::function<void(uint64_t)>& append) {
  uint64_t sent = 0, confirmed = 0;
  while (confirmed < count) {
    while (sent < count && sent - confirmed < window) append(sent++);
    void* reply = nullptr;
    if (redisGetReply(redis, &reply) != REDIS_OK) die("redis: connection lost");
    freeReplyObject(reply);
    ++confirmed;
  }
  return confirmed;
}

redisContext* connect_redis(const pgep::Uri& uri) {
  redisContext* redis = redisConnect(uri.host.c_str(), uri.port.value_or(6379));
  if (!redis || redis->err) die("redis: cannot connect");
  return redis;
}

uint64_t publish_redis(const pgep::Uri& uri, const std::string& channel, uint64_t count, uint64_t window) {
  redisContext* redis = connect_redis(uri);
  uint64_t confirmed = pipeline(redis, count, window, [&](uint64_t n) {
    std::string text = body(n);
    const char* argv[] = {"PUBLISH", channel.data(), text.data()};
    size_t lengths[] = {7, channel.size(), text.size()};
    redisAppendCommandArgv(redis, 3, argv, lengths);
  });
  redisFree(redis);
  return confirmed;
}

uint64_t publish_redis_stream(const pgep::Uri& uri, const std::string& stream, uint64_t count, uint64_t window) {
  redisContext* redis = connect_redis(uri);
  freeReplyObject(redisCommand(redis, "DEL %s", stream.c_str()));
  uint64_t confirmed = pipeline(redis, count, window, [&](uint64_t n) {
    std::string id = std::to_string(n);
    std::string text = body(n);
    const char* argv[] = {"XADD", stream.data(), "*", "id", id.data(), "body", text.data()};
    size_t lengths[] = {4, stream.size(), 1, 2, id.size(), 4, text.size()};
    redisAppendCommandArgv(redis, 7, argv, lengths);
  });
  redisFree(redis);
  return confirmed;
}

uint64_t publish_nats(const std::string& url, const std::string& subject, uint64_t count, uint64_t window) {
  natsConnection* connection = nullptr;
  if (natsConnection_ConnectTo(&connection, url.c_str()) != NATS_OK) die("nats: cannot connect");
  static std::atomic<uint64_t> confirmed{0};
  jsOptions options;
  jsOptions_Init(&options);
  options.PublishAsync.MaxPending = static_cast<int64_t>(window);
  options.PublishAsync.AckHandler = [](jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr*, void*) {
    if (ack) ++confirmed;
    natsMsg_Destroy(message);
  };
  jsCtx* js = nullptr;
  if (natsConnection_JetStream(&js, connection, &options) != NATS_OK) die("nats: no JetStream");
  const char* subjects[] = {"benchwal", "benchwal.>"};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = "PGEP_BENCHWAL";
  config.Subjects = subjects;
  config.SubjectsLen = 2;
  jsErrCode code;
  js_AddStream(nullptr, js, &config, nullptr, &code);  // made by an earlier run or by pgep: the same
  if (js_PurgeStream(js, "PGEP_BENCHWAL", nullptr, &code) != NATS_OK) die("nats: cannot purge PGEP_BENCHWAL");
  std::string run = std::to_string(getpid()) + "-";
  for (uint64_t sent = 0; sent < count; ++sent) {
    std::string text = body(sent);
    natsMsg* message = nullptr;
    natsMsg_Create(&message, subject.c_str(), nullptr, text.data(), static_cast<int>(text.size()));
    natsMsgHeader_Set(message, "Nats-Msg-Id", (run + std::to_string(sent)).c_str());
    if (js_PublishMsgAsync(js, &message, nullptr) != NATS_OK) die("nats: publish failed");
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = 60000;
  if (count > 0 && js_PublishAsyncComplete(js, &wait) != NATS_OK) die("nats: PubAcks missing");
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  return confirmed;
}

struct MqttState {
  uint64_t confirmed = 0;
  bool connected = false;
};

uint64_t publish_mqtt(const pgep::Uri& uri, const std::string& topic, uint64_t count, uint64_t window) {
  mosquitto_lib_init();
  MqttState state;
  mosquitto* client = mosquitto_new(nullptr, true, &state);
  if (!client) die("mqtt: cannot create a client");
  mosquitto_int_option(client, MOSQ_OPT_SEND_MAXIMUM, static_cast<int>(window));
  mosquitto_connect_callback_set(client, [](mosquitto*, void* data, int rc) {
    if (rc != 0) die("mqtt: refused");
    static_cast<MqttState*>(data)->connected = true;
  });
  mosquitto_publish_callback_set(client, [](mosquitto*, void* data, int) { ++static_cast<MqttState*>(data)->confirmed; });
  if (mosquitto_connect(client, uri.host.c_str(), uri.port.value_or(1883), 60) != MOSQ_ERR_SUCCESS) {
    die("mqtt: cannot connect");
  }
  while (!state.connected) {
    if (mosquitto_loop(client, 100, 1) != MOSQ_ERR_SUCCESS) die("mqtt: connection lost");
  }
  uint64_t sent = 0;
  while (state.confirmed < count) {
    while (sent < count && sent - state.confirmed < window) {
      std::string text = body(sent++);
      if (mosquitto_publish(client, nullptr, topic.c_str(), static_cast<int>(text.size()), text.data(), 1, false) !=
          MOSQ_ERR_SUCCESS) {
        die("mqtt: publish failed");
      }
    }
    if (mosquitto_loop(client, 100, 1) != MOSQ_ERR_SUCCESS) die("mqtt: connection lost");
  }
  mosquitto_destroy(client);
  return state.confirmed;
}

uint64_t publish_amqp(const pgep::Uri& uri, const std::string& key, uint64_t count, uint64_t window) {
  amqp_connection_state_t connection = open_amqp(uri);
  amqp_confirm_select(connection, 1);
  check_amqp(amqp_get_rpc_reply(connection), "confirm.select");
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  properties.delivery_mode = 1;
  properties.content_type = amqp_cstring_bytes("application/json");
  uint64_t sent = 0, confirmed = 0;
  while (confirmed < count) {
    while (sent < count && sent - confirmed < window) {
      std::string text = body(sent++);
      amqp_bytes_t bytes{text.size(), text.data()};
      if (amqp_basic_publish(connection, 1, amqp_cstring_bytes("amq.topic"), amqp_cstring_bytes(key.c_str()), 0, 0,
                             &properties, bytes) != AMQP_STATUS_OK) {
        die("amqp: publish failed");
      }
    }
    amqp_frame_t frame;
    if (amqp_simple_wait_frame(connection, &frame) != AMQP_STATUS_OK) die("amqp: connection lost");
    if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
      confirmed = ack->multiple ? ack->delivery_tag : confirmed + 1;
    } else if (frame.frame_type == AMQP_FRAME_METHOD) {
      die("amqp: the broker answered something other than basic.ack");
    }
    amqp_maybe_release_buffers(connection);
  }
  amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(connection);
  return confirmed;
}

uint64_t publish_webhook(const std::string& url, uint64_t count, uint64_t window) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uint64_t sent = 0, answered = 0, confirmed = 0;
  {
    pgep::HttpClient http(&loop, pgep::HttpOptions{});
    std::function<void()> fill = [&] {
      while (sent < count && sent - answered < window) {
        pgep::HttpRequest request{url, {"Content-Type: application/json", "X-Pgep-Id: b-" + std::to_string(sent)},
                                  body(sent)};
        ++sent;
        http.post(std::move(request), [&](const pgep::HttpResponse& response) {
          ++answered;
          if (response.status >= 200 && response.status < 300) ++confirmed;
          fill();
        });
      }
    };
    fill();
    while (answered < count && uv_run(&loop, UV_RUN_ONCE) != 0) {
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the handles' close callbacks
  uv_loop_close(&loop);
  return confirmed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: pgep-bench-publisher redis|mqtt|amqp|webhook|redis-stream|nats URI TARGET COUNT WINDOW\n");
    return 2;
  }
  std::string kind = argv[1], error;
  std::optional<pgep::Uri> uri = pgep::parse_uri(argv[2], error);
  if (!uri) die("uri: " + error);
  uint64_t count = std::strtoull(argv[4], nullptr, 10);
  uint64_t window = std::strtoull(argv[5], nullptr, 10);
  bool resettable = kind == "redis-stream" || kind == "nats";
  if ((count == 0 && !resettable) || window == 0) die("COUNT and WINDOW must be numbers above 0");
  double start = monotonic_s();
  uint64_t confirmed = 0;
  if (kind == "redis") {
    confirmed = publish_redis(*uri, argv[3], count, window);
  } else if (kind == "mqtt") {
    confirmed = publish_mqtt(*uri, argv[3], count, window);
  } else if (kind == "amqp") {
    confirmed = publish_amqp(*uri, argv[3], count, window);
  } else if (kind == "webhook") {
    confirmed = publish_webhook(argv[2], count, window);
  } else if (kind == "redis-stream") {
    confirmed = publish_redis_stream(*uri, argv[3], count, window);
  } else if (kind == "nats") {
    confirmed = publish_nats(argv[2], argv[3], count, window);
  } else {
    die("unknown kind " + kind);
  }
  double seconds = monotonic_s() - start;
  std::printf("{\"confirmed\": %llu, \"seconds\": %.3f, \"per_second\": %.0f}\n",
              static_cast<unsigned long long>(confirmed), seconds, seconds > 0 ? confirmed / seconds : 0.0);
  return 0;
}
