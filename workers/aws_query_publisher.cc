#include "workers/aws_query_publisher.h"

#include <algorithm>

#include "shared/uri.h"
#include "workers/aws_xml.h"
#include "workers/digest.h"

namespace pgep {

// The names that differ between SNS's and SQS's query APIs (botocore's service models).
struct AwsQueryPublisher::Dialect {
  const char* name;  // for log lines
  const char* service;
  const char* version;
  const char* single_action;
  const char* batch_action;
  const char* target_parameter;
  const char* body_parameter;
  const char* entry_prefix;      // a batch entry's parameters: PREFIX.N.Name
  const char* attribute_prefix;  // a message attribute's: PREFIX.N.Name, PREFIX.N.Value.*
};

namespace {

const AwsQueryPublisher::Dialect kSns{"SNS", "sns", "2010-03-31", "Publish", "PublishBatch", "TopicArn", "Message",
                                      "PublishBatchRequestEntries.member", "MessageAttributes.entry"};
const AwsQueryPublisher::Dialect kSqs{"SQS", "sqs", "2012-11-05", "SendMessage", "SendMessageBatch", "QueueUrl", "MessageBody",
                                      "SendMessageBatchRequestEntry", "MessageAttribute"};

bool ends_with(const std::string& text, std::string_view end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

// MessageGroupId and MessageDeduplicationId: up to 128 of ASCII's letters, digits and
// punctuation; anything else is replaced by its SHA-256, which is.
std::string fifo_token(const std::string& text) {
  bool fits = !text.empty() && text.size() <= 128 &&
              std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
  return fits ? text : hex(sha256(text));
}

}  // namespace

AwsQueryPublisher::AwsQueryPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : HttpPublisher(loop, listener),
      dialect_(settings.text("kind") == "awssns" ? kSns : kSqs),
      client_(loop, settings, dialect_.service),
      target_(settings.text(kSettingTarget)),
      channel_(settings.text(kSettingChannel)),
      fifo_(ends_with(target_, ".fifo")),
      batch_(settings.number("batch")),
      max_bytes_(settings.size("max_message_bytes")),
      send_turn_(loop, [this] { send_held(); }) {}

void AwsQueryPublisher::drop_requests() {
  send_turn_.cancel();
  held_.clear();
  client_.cancel_all();
}

AwsQueryPublisher::Held AwsQueryPublisher::held(const ipc::Publish& message) const {
  Held out{message.seq, {{dialect_.body_parameter, message.body}}, message.body.size()};
  std::vector<std::pair<std::string, std::string>> attributes = {{"pgep-id", message.message_id},
                                                                 {"pgep-channel", channel_}};
  if (!message.routing_key.empty()) attributes.emplace_back("pgep-routing-key", message.routing_key);
  for (size_t i = 0; i < attributes.size(); ++i) {
    std::string prefix = std::string(dialect_.attribute_prefix) + "." + std::to_string(i + 1) + ".";
    out.fields.emplace_back(prefix + "Name", attributes[i].first);
    out.fields.emplace_back(prefix + "Value.DataType", "String");
    out.fields.emplace_back(prefix + "Value.StringValue", attributes[i].second);
    out.bytes += attributes[i].first.size() + 6 + attributes[i].second.size();
  }
  if (fifo_) {
    out.fields.emplace_back("MessageGroupId", fifo_token(message.routing_key.empty() ? channel_ : message.routing_key));
    out.fields.emplace_back("MessageDeduplicationId", fifo_token(message.message_id));
  }
  return out;
}

void AwsQueryPublisher::publish(const ipc::Publish& message) {
  if (!connected()) return;
  if (message.body.empty()) {
    return listener_.on_unroutable(message.seq, std::string(dialect_.name) + " takes no empty message");
  }
  if (alone_.count(message.seq)) return send({held(message)});
  held_.push_back(held(message));
  send_turn_.request();
}

// Requests of up to batch_ messages and max_bytes_, in the order they were published.
void AwsQueryPublisher::send_held() {
  std::vector<Held> group;
  size_t bytes = 0;
  for (Held& message : held_) {
    if (!group.empty() && (group.size() == batch_ || bytes + message.bytes > max_bytes_)) {
      send(std::move(group));
      group.clear();
      bytes = 0;
    }
    bytes += message.bytes;
    group.push_back(std::move(message));
  }
  if (!group.empty()) send(std::move(group));
  held_.clear();
}

void AwsQueryPublisher::send(std::vector<Held> group) {
  bool batch = group.size() > 1;
  std::string body = std::string("Action=") + (batch ? dialect_.batch_action : dialect_.single_action) +
                     "&Version=" + dialect_.version + "&" + dialect_.target_parameter + "=" + aws_uri_encode(target_);
  std::vector<uint64_t> seqs;
  for (size_t i = 0; i < group.size(); ++i) {
    std::string prefix = batch ? std::string(dialect_.entry_prefix) + "." + std::to_string(i + 1) + "." : "";
    if (batch) body += "&" + prefix + "Id=" + std::to_string(group[i].seq);
    for (const auto& [name, value] : group[i].fields) body += "&" + prefix + name + "=" + aws_uri_encode(value);
    seqs.push_back(group[i].seq);
  }
  client_.post("/", {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}, std::move(body),
               [this, seqs, batch](const HttpResponse& response) { on_answer(seqs, batch, response); });
}

void AwsQueryPublisher::on_answer(const std::vector<uint64_t>& seqs, bool batch, const HttpResponse& response) {
  AwsXmlAnswer xml = parse_aws_xml(response.body);
  AwsAnswer answer = classify_aws_answer(response, xml.error_code, xml.error_message, client_.endpoint());
  switch (answer.outcome) {
    case AwsAnswer::Outcome::Ok:
      if (batch) return on_batch_answer(seqs, xml);
      alone_.erase(seqs[0]);
      return listener_.on_confirmed(seqs[0]);
    case AwsAnswer::Outcome::Later:
      disconnect();
      return listener_.on_broker_away(answer.reason, answer.retry_after_ms);
    case AwsAnswer::Outcome::Refused:
      for (uint64_t seq : seqs) {
        if (batch) alone_.insert(seq);
        else alone_.erase(seq);  // refused alone: it is its own fault; the set stays bounded
        listener_.on_refused(seq, answer.reason);
      }
      return;
  }
}

// Each entry as AWS answered it; an entry the answer does not name is sent again.
void AwsQueryPublisher::on_batch_answer(const std::vector<uint64_t>& seqs, const AwsXmlAnswer& answer) {
  std::unordered_set<uint64_t> answered;
  auto ours = [&](const std::string& id) -> std::optional<uint64_t> {
    std::optional<uint64_t> seq = parse_uint(id, 0, UINT64_MAX);
    if (!seq || std::find(seqs.begin(), seqs.end(), *seq) == seqs.end() || !answered.insert(*seq).second) return {};
    return seq;
  };
  for (const std::string& id : answer.succeeded) {
    if (std::optional<uint64_t> seq = ours(id)) listener_.on_confirmed(*seq);
  }
  for (const AwsBatchFailure& failure : answer.failed) {
    std::optional<uint64_t> seq = ours(failure.id);
    if (!seq) continue;
    std::string reason = client_.endpoint() + " failed the entry: " + failure.code + ": " + failure.message.substr(0, 300);
    if (failure.sender_fault) {
      listener_.on_refused(*seq, reason);
    } else {
      listener_.on_retry(*seq, reason);
    }
  }
  for (uint64_t seq : seqs) {
    if (!answered.count(seq)) listener_.on_retry(seq, client_.endpoint() + "'s answer does not name the entry");
  }
}

}  // namespace pgep
