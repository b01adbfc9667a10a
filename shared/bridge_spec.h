// A bridge is one entry of an upstream's bridge_channels: a PostgreSQL channel carried to one
// target of one broker ("events->exchange:amq.topic"). Each bridge gets its own worker.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgep {

enum class UpstreamKind { Amqp, Mqtt, Redis, Webhook, AwsSns, AwsSqs, AwsLambda, Nats, Kafka };
// The AWS targets are kinds of their own although they are written "topic:" and "queue:" like
// the brokers' ones: an SNS topic or SQS queue is one fixed destination per bridge, and the
// routing key travels beside the message (an attribute), never appended to the name.
enum class TargetKind { Exchange, Queue, Topic, Path, SnsTopic, SqsQueue, Function, Stream, Subject, KafkaTopic };

// The channel name that stands for the WAL stream rather than a NOTIFY channel.
inline constexpr std::string_view kWalChannel = "wal2json";

const char* upstream_kind_name(UpstreamKind kind);
const char* target_kind_name(TargetKind kind);

// The target kinds an upstream accepts: amqp exchange and queue, mqtt and redis topic, webhook
// path, awssns topic (an ARN), awssqs queue (a URL), awslambda function, redis stream, nats
// subject.
bool upstream_accepts(UpstreamKind upstream, TargetKind target);
std::string accepted_target_kinds(UpstreamKind upstream);

struct BridgeSpec {
  std::string channel;  // PostgreSQL channel, or kWalChannel
  TargetKind kind = TargetKind::Topic;
  std::string target;   // exchange, queue or topic name, or a URL path; may itself hold ':'

  bool is_wal() const { return channel == kWalChannel; }
  // "channel->kind:target", the form it is written in.
  std::string text() const;
};

// The problem with a NATS subject to publish to, or "".
std::string nats_subject_problem(std::string_view subject);

// Parses "ch1->exchange:x, ch2->topic:a:b". Entries are separated by ',' (or new lines, for
// continuation lines of an INI file); white space around each part is ignored; empty entries
// (a trailing comma) are skipped. The target is split from the kind on the first ':' only.
// Every problem found is appended to `errors`; the entries that parsed are appended to `out`.
void parse_bridge_channels(std::string_view text, UpstreamKind upstream,
                           std::vector<BridgeSpec>& out, std::vector<std::string>& errors);

}  // namespace pgep
