#include "shared/bridge_spec.h"

#include <algorithm>

#include "shared/values.h"

namespace pgep {

namespace {

// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; a longer channel would never match.
constexpr size_t kMaxChannelBytes = 63;
// AMQP 0.9.1 exchange and queue names are short strings.
constexpr size_t kMaxAmqpNameBytes = 255;
// MQTT topics are at most 65535 bytes, including the key appended to them.
constexpr size_t kMaxTopicBytes = 65535;

bool parse_target_kind(std::string_view text, UpstreamKind upstream, TargetKind& kind) {
  if (text == "exchange") kind = TargetKind::Exchange;
  else if (text == "queue") kind = upstream == UpstreamKind::AwsSqs ? TargetKind::SqsQueue : TargetKind::Queue;
  else if (text == "topic" && upstream == UpstreamKind::AwsSns) kind = TargetKind::SnsTopic;
  else if (text == "topic" && upstream == UpstreamKind::Kafka) kind = TargetKind::KafkaTopic;
  else if (text == "topic") kind = TargetKind::Topic;
  else if (text == "path") kind = TargetKind::Path;
  else if (text == "function") kind = TargetKind::Function;
  else if (text == "stream") kind = TargetKind::Stream;
  else if (text == "subject") kind = TargetKind::Subject;
  else return false;
  return true;
}

bool has_only(std::string_view text, std::string_view extra) {
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

// A subject to publish to: tokens separated by '.', none empty, no wildcard, no white space.
std::string nats_subject_problem(std::string_view subject) {
  if (subject.empty() || subject.front() == '.' || subject.back() == '.' || subject.find("..") != std::string_view::npos) {
    return "a NATS subject is tokens separated by '.', none of them empty";
  }
  for (char c : subject) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return "a NATS subject may not hold white space or control characters";
  }
  for (size_t start = 0; start <= subject.size();) {
    size_t dot = std::min(subject.find('.', start), subject.size());
    std::string_view token = subject.substr(start, dot - start);
    if (token == "*" || token == ">") return "a NATS subject to publish to may not hold the wildcards * or >";
    start = dot + 1;
  }
  return "";
}

namespace {

// AWS's own rules for the names, so a typo is found by --check-config, not by the first event.
std::string check_aws_target(TargetKind kind, std::string_view target) {
  switch (kind) {
    case TargetKind::SnsTopic:
      if (target.rfind("arn:", 0) != 0 || target.find(":sns:") == std::string_view::npos || !has_only(target, ":-_./")) {
        return "an SNS topic must be its ARN, such as arn:aws:sns:eu-west-1:123456789012:events";
      }
      return "";
    case TargetKind::SqsQueue:
      if ((target.rfind("https://", 0) != 0 && target.rfind("http://", 0) != 0) || !has_only(target, ":/-_.%")) {
        return "an SQS queue must be its URL, such as https://sqs.eu-west-1.amazonaws.com/123456789012/events";
      }
      return "";
    case TargetKind::Function:
      if (target.size() > 170 || !has_only(target, ":-_.")) {
        return "a Lambda function must be its name, ARN or partial ARN (letters, digits, -, _, : and ., at most 170)";
      }
      return "";
    case TargetKind::Subject:
      return nats_subject_problem(target);
    case TargetKind::KafkaTopic:
      if (target.size() > 249 || target == "." || target == ".." || !has_only(target, "._-")) {
        return "a Kafka topic is 1 to 249 letters, digits, '.', '_' and '-'";
      }
      return "";
    default:
      return "";
  }
}

// Checks a target name against what its broker accepts; returns the problem or "".
std::string check_target(UpstreamKind upstream, TargetKind kind, std::string_view target) {
  if (kind == TargetKind::Path) {  // empty: the upstream's uri itself
    if (!target.empty() && target[0] != '/') return "a webhook path must start with / (or be empty)";
    for (char c : target) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '#') {
        return "a webhook path may not hold spaces, control characters or #";
      }
    }
    return "";
  }
  if (target.empty()) return "the " + std::string(target_kind_name(kind)) + " name is empty";
  if (std::string problem = check_aws_target(kind, target); !problem.empty()) return problem;
  if (upstream == UpstreamKind::Amqp && target.size() > kMaxAmqpNameBytes) {
    return "the " + std::string(target_kind_name(kind)) + " name is longer than 255 bytes";
  }
  if (upstream == UpstreamKind::Mqtt) {
    if (target.find_first_of("+#") != std::string_view::npos) {
      return "an MQTT topic to publish to may not hold the wildcards + or #";
    }
    if (target.size() > kMaxTopicBytes) return "the topic is longer than 65535 bytes";
  }
  if (target.find('\0') != std::string_view::npos) return "the target holds a NUL byte";
  return "";
}

}  // namespace

const char* upstream_kind_name(UpstreamKind kind) {
  switch (kind) {
    case UpstreamKind::Amqp: return "amqp";
    case UpstreamKind::Mqtt: return "mqtt";
    case UpstreamKind::Redis: return "redis";
    case UpstreamKind::Webhook: return "webhook";
    case UpstreamKind::AwsSns: return "awssns";
    case UpstreamKind::AwsSqs: return "awssqs";
    case UpstreamKind::AwsLambda: return "awslambda";
    case UpstreamKind::Nats: return "nats";
    case UpstreamKind::Kafka: return "kafka";
  }
  return "?";
}

const char* target_kind_name(TargetKind kind) {
  switch (kind) {
    case TargetKind::Exchange: return "exchange";
    case TargetKind::Queue:
    case TargetKind::SqsQueue: return "queue";
    case TargetKind::Topic:
    case TargetKind::SnsTopic:
    case TargetKind::KafkaTopic: return "topic";
    case TargetKind::Path: return "path";
    case TargetKind::Function: return "function";
    case TargetKind::Stream: return "stream";
    case TargetKind::Subject: return "subject";
  }
  return "?";
}

bool upstream_accepts(UpstreamKind upstream, TargetKind target) {
  switch (upstream) {
    case UpstreamKind::Amqp: return target == TargetKind::Exchange || target == TargetKind::Queue;
    case UpstreamKind::Mqtt:
    case UpstreamKind::Redis: return target == TargetKind::Topic || target == TargetKind::Stream;
    case UpstreamKind::Webhook: return target == TargetKind::Path;
    case UpstreamKind::AwsSns: return target == TargetKind::SnsTopic;
    case UpstreamKind::AwsSqs: return target == TargetKind::SqsQueue;
    case UpstreamKind::AwsLambda: return target == TargetKind::Function;
    case UpstreamKind::Nats: return target == TargetKind::Subject;
    case UpstreamKind::Kafka: return target == TargetKind::KafkaTopic;
  }
  return false;
}

std::string accepted_target_kinds(UpstreamKind upstream) {
  switch (upstream) {
    case UpstreamKind::Amqp: return "exchange or queue";
    case UpstreamKind::Mqtt: return "topic";
    case UpstreamKind::Redis: return "topic or stream";
    case UpstreamKind::Webhook: return "path";
    case UpstreamKind::AwsSns: return "topic (the topic's ARN)";
    case UpstreamKind::AwsSqs: return "queue (the queue's URL)";
    case UpstreamKind::AwsLambda: return "function";
    case UpstreamKind::Nats: return "subject";
    case UpstreamKind::Kafka: return "topic";
  }
  return "";
}

std::string BridgeSpec::text() const {
  return channel + "->" + target_kind_name(kind) + ":" + target;
}

void parse_bridge_channels(std::string_view text, UpstreamKind upstream,
                           std::vector<BridgeSpec>& out, std::vector<std::string>& errors) {
  size_t first_new = out.size();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of(",\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view entry = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (entry.empty()) continue;

    std::string quoted = "\"" + std::string(entry) + "\"";
    size_t arrow = entry.find("->");
    if (arrow == std::string_view::npos) {
      errors.push_back(quoted + ": expected channel->kind:target");
      continue;
    }
    BridgeSpec spec;
    spec.channel = std::string(trim(entry.substr(0, arrow)));
    std::string_view destination = trim(entry.substr(arrow + 2));
    size_t colon = destination.find(':');
    std::string_view kind_text = trim(destination.substr(0, colon));
    if (spec.channel.empty()) {
      errors.push_back(quoted + ": the PostgreSQL channel before -> is empty");
      continue;
    }
    if (spec.channel.size() > kMaxChannelBytes) {
      errors.push_back(quoted + ": the channel is longer than 63 bytes, PostgreSQL's limit");
      continue;
    }
    if (colon == std::string_view::npos) {
      errors.push_back(quoted + ": expected kind:target after -> (" +
                       accepted_target_kinds(upstream) + ")");
      continue;
    }
    if (!parse_target_kind(kind_text, upstream, spec.kind) || !upstream_accepts(upstream, spec.kind)) {
      errors.push_back(quoted + ": kind \"" + std::string(kind_text) + "\" is not one an " +
                       upstream_kind_name(upstream) + " upstream accepts (expected " +
                       accepted_target_kinds(upstream) + ")");
      continue;
    }
    spec.target = std::string(trim(destination.substr(colon + 1)));
    std::string problem = check_target(upstream, spec.kind, spec.target);
    if (!problem.empty()) {
      errors.push_back(quoted + ": " + problem);
      continue;
    }
    auto same = [&](const BridgeSpec& b) {
      return b.channel == spec.channel && b.kind == spec.kind && b.target == spec.target;
    };
    if (std::any_of(out.begin() + static_cast<std::ptrdiff_t>(first_new), out.end(), same)) {
      errors.push_back(quoted + ": listed twice (it would deliver every event twice)");
      continue;
    }
    out.push_back(std::move(spec));
  }
}

}  // namespace pgep
