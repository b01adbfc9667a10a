#include "workers/aws_client.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <ctime>

#include "shared/config_options.h"
#include "shared/uri.h"

namespace pgep {

namespace {

// Codes that say "not now" (AWS's throttling and its transient faults), whatever the status.
constexpr std::array<std::string_view, 14> kLaterCodes = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "TooManyRequestsException",
    "RequestLimitExceeded", "SlowDown", "ServiceUnavailable", "InternalError", "InternalFailure",
    "KMSThrottlingException", "EC2ThrottledException", "ResourceConflictException", "ResourceNotReadyException"};

// Codes that say "not these events": the request was understood and the events refused.
// Everything else a 4xx says (credentials, permissions, a missing topic, queue or function) is
// about the bridge, not the events: the bridge waits and says so, and no event becomes a dead
// letter over a typo in a setting.
constexpr std::array<std::string_view, 12> kRefusalCodes = {
    "InvalidParameter", "InvalidParameterValue", "InvalidParameterValueException", "InvalidParameterException",
    "InvalidMessageContents", "ParameterValueInvalid", "ValidationError", "ValidationException",
    "RequestEntityTooLargeException", "InvalidRequestContentException", "UnsupportedMediaTypeException",
    "AWS.SimpleQueueService.InvalidBatchEntryId"};

template <size_t N>
bool listed(const std::array<std::string_view, N>& codes, const std::string& code) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

}  // namespace

AwsClient::AwsClient(uv_loop_t* loop, const Settings& settings, std::string service)
    : http_(loop, HttpOptions{settings.duration_ms("timeout"), settings.text("tls_ca_file"),
                              settings.text("tls_cert_file"), settings.text("tls_key_file"),
                              settings.flag("tls_verify")}),
      credentials_{settings.text("access_key_id"), settings.text("secret_access_key"), settings.text("session_token")},
      region_(settings.text("region")),
      service_(std::move(service)) {
  std::string error;
  std::optional<Uri> uri = parse_uri(settings.text("uri"), error);
  if (!uri) throw std::runtime_error("uri: " + error);  // checked by the supervisor
  std::string host = uri->host.find(':') != std::string::npos ? "[" + uri->host + "]" : uri->host;
  int port = uri->port.value_or(default_port(UpstreamKind::AwsSqs, uri->scheme));
  host_ = port == default_port(UpstreamKind::AwsSqs, uri->scheme) ? host : host + ":" + std::to_string(port);
  endpoint_ = uri->scheme + "://" + host_;
  if (uri->path && !uri->path->empty()) base_path_ = "/" + aws_uri_encode(*uri->path, /*keep_slash=*/true);
  while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
}

void AwsClient::post(const std::string& path, std::vector<std::pair<std::string, std::string>> headers,
                     std::string body, HttpClient::Done done) {
  AwsRequest request;
  request.host = host_;
  request.path = base_path_ + path;
  request.headers = std::move(headers);
  request.body = std::move(body);
  std::vector<std::string> signed_headers = sigv4_headers(request, credentials_, region_, service_, std::time(nullptr));
  http_.post(HttpRequest{endpoint_ + request.path, std::move(signed_headers), std::move(request.body)},
             std::move(done));
}

AwsAnswer classify_aws_answer(const HttpResponse& response, const std::string& code, const std::string& message,
                              const std::string& where) {
  AwsAnswer answer;
  if (response.status >= 200 && response.status < 300) return answer;
  if (response.status == 0) {
    answer.outcome = AwsAnswer::Outcome::Later;
    answer.reason = "no answer from " + where + ": " + response.error;
    return answer;
  }
  answer.reason = where + " answered " + std::to_string(response.status);
  if (!code.empty()) answer.reason += " " + code;
  if (!message.empty()) answer.reason += ": " + message.substr(0, 300);
  bool later = response.status >= 500 || response.status == 408 || response.status == 429 || listed(kLaterCodes, code);
  answer.outcome = !later && listed(kRefusalCodes, code) ? AwsAnswer::Outcome::Refused : AwsAnswer::Outcome::Later;
  if (later) answer.retry_after_ms = response.retry_after_ms();
  return answer;
}

std::pair<std::string, std::string> aws_json_error(const HttpResponse& response) {
  std::string code = response.header("x-amzn-errortype");
  code = code.substr(0, code.find(':'));  // "Name:http://internal.amazon.com/..."
  std::string message;
  static thread_local simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(response.body.data(), response.body.size(), true).get(object) == simdjson::SUCCESS) {
    for (const char* key : {"__type", "code", "Type"}) {
      std::string_view value;
      if (code.empty() && object[key].get(value) == simdjson::SUCCESS) code = std::string(value);
    }
    for (const char* key : {"message", "Message", "errorMessage"}) {
      std::string_view value;
      if (message.empty() && object[key].get(value) == simdjson::SUCCESS) message = std::string(value);
    }
  }
  code = code.substr(code.rfind('#') == std::string::npos ? 0 : code.rfind('#') + 1);  // "aws.protocol#Code"
  return {code, message};
}

}  // namespace pgep
