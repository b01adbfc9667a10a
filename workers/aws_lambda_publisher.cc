#include "workers/aws_lambda_publisher.h"

#include "workers/event_envelope.h"

namespace pgep {

AwsLambdaPublisher::AwsLambdaPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : HttpPublisher(loop, listener),
      client_(loop, settings, "lambda"),
      path_("/2015-03-31/functions/" + aws_uri_encode(settings.text(kSettingTarget)) + "/invocations"),
      channel_(settings.text(kSettingChannel)),
      invocation_type_(settings.text("invocation_type")) {}

void AwsLambdaPublisher::publish(const ipc::Publish& message) {
  if (!connected()) return;
  uint64_t seq = message.seq;
  client_.post(path_, {{"Content-Type", "application/json"}, {"X-Amz-Invocation-Type", invocation_type_}},
               event_envelope(message, channel_), [this, seq](const HttpResponse& response) { on_answer(seq, response); });
}

void AwsLambdaPublisher::on_answer(uint64_t seq, const HttpResponse& response) {
  auto [code, message] = aws_json_error(response);
  AwsAnswer answer = classify_aws_answer(response, code, message, client_.endpoint());
  switch (answer.outcome) {
    case AwsAnswer::Outcome::Ok: {
      std::string function_error = response.header("x-amz-function-error");
      if (function_error.empty()) return listener_.on_confirmed(seq);
      return listener_.on_refused(seq, "the function failed (" + function_error + "): " + response.body.substr(0, 300));
    }
    case AwsAnswer::Outcome::Later:
      disconnect();
      return listener_.on_broker_away(answer.reason, answer.retry_after_ms);
    case AwsAnswer::Outcome::Refused:
      return listener_.on_refused(seq, answer.reason);
  }
}

}  // namespace pgep
