// AWS Lambda (kind awslambda): each event is one Invoke of the bridge's function, its payload
// the event's JSON envelope (event_envelope.h: id, channel, routing_key, body), signed with
// SigV4 (AwsClient), up to max_in_flight at once.
//
// invocation_type = Event (the default): Lambda queues the event and answers 202; that answer
// acknowledges it. RequestResponse: Lambda runs the function and answers with its result; the
// event is acknowledged when the function succeeded, and refused (published again, a dead
// letter after dead_letter_after refusals) when it failed (X-Amz-Function-Error).
//
// Other answers are read as for SNS and SQS (aws_client.h): throttling, 5xx, no answer,
// credentials or a missing function mean "later" for the whole window; a refusal code refuses
// the event alone.
#pragma once

#include <uv.h>

#include <string>

#include "shared/settings.h"
#include "workers/aws_client.h"
#include "workers/http_publisher.h"

namespace pgep {

class AwsLambdaPublisher : public HttpPublisher {
 public:
  AwsLambdaPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);

  void publish(const ipc::Publish& message) override;

 private:
  void drop_requests() override { client_.cancel_all(); }
  void on_answer(uint64_t seq, const HttpResponse& response);

  AwsClient client_;
  std::string path_;  // /2015-03-31/functions/NAME/invocations
  std::string channel_;
  std::string invocation_type_;
};

}  // namespace pgep
