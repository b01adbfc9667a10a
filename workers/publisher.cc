#include "workers/publisher.h"

#include <stdexcept>

#include "shared/settings.h"
#include "workers/amqp_publisher.h"
#include "workers/aws_lambda_publisher.h"
#include "workers/aws_query_publisher.h"
#include "workers/kafka_publisher.h"
#include "workers/mqtt_options.h"
#include "workers/mqtt_publisher.h"
#include "workers/mqtt_websocket_publisher.h"
#include "workers/nats_publisher.h"
#include "workers/redis_publisher.h"
#include "workers/webhook_publisher.h"

namespace pgep {

std::unique_ptr<Publisher> make_publisher(uv_loop_t* loop,
                                          const std::map<std::string, std::string>& values,
                                          PublisherListener& listener) {
  Settings settings(values);
  const std::string& kind = settings.text("kind");
  if (kind == "amqp") return std::make_unique<AmqpPublisher>(loop, settings, listener);
  if (kind == "mqtt" && MqttOptions::from(settings).websocket()) {
    return std::make_unique<MqttWebsocketPublisher>(loop, settings, listener);
  }
  if (kind == "mqtt") return std::make_unique<MqttPublisher>(loop, settings, listener);
  if (kind == "redis") return std::make_unique<RedisPublisher>(loop, settings, listener);
  if (kind == "webhook") return std::make_unique<WebhookPublisher>(loop, settings, listener);
  if (kind == "awssns" || kind == "awssqs") return std::make_unique<AwsQueryPublisher>(loop, settings, listener);
  if (kind == "awslambda") return std::make_unique<AwsLambdaPublisher>(loop, settings, listener);
  if (kind == "nats") return std::make_unique<NatsPublisher>(loop, settings, listener);
  if (kind == "kafka") return std::make_unique<KafkaPublisher>(loop, settings, listener);
  throw std::runtime_error("unknown upstream kind \"" + kind + "\"");
}

}  // namespace pgep
