// One AWS service endpoint on the worker's loop: each request signed with Signature Version 4
// (aws_sigv4.h) and sent by HttpClient; each answer sorted into what it means for the events
// it carried (classify_aws_answer).
#pragma once

#include <uv.h>

#include <string>
#include <utility>
#include <vector>

#include "shared/settings.h"
#include "workers/aws_sigv4.h"
#include "workers/http_client.h"

namespace pgep {

class AwsClient {
 public:
  // `service` is the signing name: sns, sqs or lambda. Reads uri, region, the credentials,
  // timeout and the tls_* settings.
  AwsClient(uv_loop_t* loop, const Settings& settings, std::string service);

  // POSTs `body` to the endpoint's path plus `path` (percent-encoded already).
  void post(const std::string& path, std::vector<std::pair<std::string, std::string>> headers, std::string body,
            HttpClient::Done done);
  void cancel_all() { http_.cancel_all(); }
  // The endpoint, for log lines.
  const std::string& endpoint() const { return endpoint_; }

 private:
  HttpClient http_;
  AwsCredentials credentials_;
  std::string region_;
  std::string service_;
  std::string endpoint_;   // scheme://host[:port], as configured
  std::string host_;       // the Host header: the port only when it is not the scheme's
  std::string base_path_;  // the endpoint's own path, without its trailing '/'
};

// What an answer means for the events a request carried.
struct AwsAnswer {
  enum class Outcome {
    Ok,       // 2xx: taken
    Later,    // no answer, 5xx, throttling, or a fault of the bridge's settings or of the service's state
              // (credentials, a missing topic, queue or function): nothing is wrong with the events;
              // all go again after a backoff, and the reason is logged
    Refused,  // the service refused these events themselves (a bad parameter, a body it cannot take)
  };
  Outcome outcome = Outcome::Ok;
  std::string reason;           // for the log: where, the status, AWS's code and message
  uint64_t retry_after_ms = 0;  // Retry-After, when the service sent one
};

// `code` is AWS's error code (from the XML, the x-amzn-ErrorType header or the JSON body).
AwsAnswer classify_aws_answer(const HttpResponse& response, const std::string& code, const std::string& message,
                              const std::string& where);

// The error code and message of an AWS JSON (rest-json) error answer: the x-amzn-ErrorType
// header, else the body's __type, code or Type; the body's message or Message.
std::pair<std::string, std::string> aws_json_error(const HttpResponse& response);

}  // namespace pgep
