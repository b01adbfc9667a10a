// SNS and SQS (kinds awssns and awssqs) through their query APIs: form-encoded POSTs signed
// with SigV4 (AwsClient), XML answers.
//
// What one loop turn publishes goes in requests of up to `batch` messages and max_message_bytes:
// one message alone is a Publish (SNS) or SendMessage (SQS), more are a PublishBatch or
// SendMessageBatch whose entries are answered one by one. Each message carries the message
// attributes pgep-id, pgep-channel and pgep-routing-key (when the key is not empty); to a FIFO
// topic or queue (its name ends in .fifo) also MessageGroupId = the routing key (the channel
// when the key is empty) and MessageDeduplicationId = the event's id, so a message published
// again after a fault is dropped by AWS within its 5-minute deduplication interval.
//
// What an answer means: a success confirms (for a batch, each entry AWS lists as successful).
// A failed entry is refused when AWS says the entry is at fault (SenderFault), and retried
// without counting toward dead_letter_after otherwise; either way only that entry goes again.
// A whole request refused (aws_client.h's refusal codes) refuses its messages, and each is sent
// alone from then on, so one bad message does not take nine good ones to the dead letters.
// Anything else (no answer, throttling, 5xx, credentials, a missing topic or queue) means
// "later": everything unconfirmed goes again after the worker's backoff.
#pragma once

#include <uv.h>

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "shared/next_turn.h"
#include "shared/settings.h"
#include "workers/aws_client.h"
#include "workers/http_publisher.h"

namespace pgep {

class AwsQueryPublisher : public HttpPublisher {
 public:
  struct Dialect;

  AwsQueryPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);

  void publish(const ipc::Publish& message) override;

 private:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  struct Held {
    uint64_t seq;
    Fields fields;  // the message's own parameters, without the batch entry's prefix
    size_t bytes;   // what AWS counts toward its size limit: the body and the attributes
  };

  void drop_requests() override;
  Held held(const ipc::Publish& message) const;
  void send_held();
  void send(std::vector<Held> group);
  void on_answer(const std::vector<uint64_t>& seqs, bool batch, const HttpResponse& response);
  void on_batch_answer(const std::vector<uint64_t>& seqs, const struct AwsXmlAnswer& answer);

  const Dialect& dialect_;
  AwsClient client_;
  std::string target_;   // the topic's ARN or the queue's URL
  std::string channel_;
  bool fifo_;
  size_t batch_;
  size_t max_bytes_;
  std::vector<Held> held_;               // published this turn, sent at its end
  std::unordered_set<uint64_t> alone_;   // in a batch refused as a whole: sent alone from now on
  NextTurn send_turn_;
};

}  // namespace pgep
