#include "workers/webhook_publisher.h"

#include <algorithm>
#include <ctime>

#include "shared/config_options.h"
#include "shared/uri.h"
#include "workers/digest.h"
#include "workers/event_envelope.h"

namespace pgep {

namespace {

bool retry_later(long status) { return status == 408 || status == 429 || status >= 500; }

std::string joined_url(const std::string& uri, const std::string& path) {
  if (path.empty()) return uri;
  if (!uri.empty() && uri.back() == '/') return uri + path.substr(1);
  return uri + path;
}

}  // namespace

std::string webhook_signature(const std::string& secret, const std::string& timestamp, const std::string& body) {
  return "sha256=" + hex(hmac_sha256(secret, timestamp + "." + body));
}

WebhookPublisher::WebhookPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : HttpPublisher(loop, listener),
      http_(loop, HttpOptions{settings.duration_ms("timeout"), settings.text("tls_ca_file"), settings.text("tls_cert_file"),
                              settings.text("tls_key_file"), settings.flag("tls_verify")}),
      url_(joined_url(settings.text("uri"), settings.text(kSettingTarget))),
      channel_(settings.text(kSettingChannel)),
      content_type_(settings.text("content_type")),
      headers_(parse_header_list(settings.text("headers"))),
      secret_(settings.text("secret")),
      batch_(settings.number("batch")),
      batch_turn_(loop, [this] { send_batches(); }) {}

void WebhookPublisher::drop_requests() {
  batch_turn_.cancel();
  held_.clear();
  http_.cancel_all();
}

// pgep's own headers first, then the upstream's `headers`, then the signature of `body`.
std::vector<std::string> WebhookPublisher::request_headers(std::vector<std::string> headers,
                                                           const std::string& body) const {
  for (const auto& [name, value] : headers_) headers.push_back(name + ": " + value);
  if (secret_.empty()) return headers;
  std::string timestamp = std::to_string(std::time(nullptr));
  headers.push_back("X-Pgep-Timestamp: " + timestamp);
  headers.push_back("X-Pgep-Signature: " + webhook_signature(secret_, timestamp, body));
  return headers;
}

void WebhookPublisher::send_batches() {
  for (size_t first = 0; first < held_.size(); first += batch_) {
    size_t end = std::min(held_.size(), first + batch_);
    std::string body = "[";
    std::vector<uint64_t> seqs;
    for (size_t i = first; i < end; ++i) {
      if (i > first) body += ",";
      body += held_[i].envelope;
      seqs.push_back(held_[i].seq);
    }
    body += "]";
    std::vector<std::string> headers = request_headers(
        {"Content-Type: application/json", "X-Pgep-Channel: " + channel_, "X-Pgep-Count: " + std::to_string(seqs.size())},
        body);
    http_.post(HttpRequest{url_, std::move(headers), std::move(body)},
               [this, seqs](const HttpResponse& response) { on_answer(seqs, response); });
  }
  held_.clear();
}

void WebhookPublisher::publish(const ipc::Publish& message) {
  if (!connected()) return;
  // A header value may not hold a line break: the routing key and id go in headers.
  if (message.routing_key.find_first_of("\r\n") != std::string::npos) {
    return listener_.on_unroutable(message.seq, "the routing key holds a line break, which no HTTP header may carry");
  }
  if (batch_ > 1) {
    held_.push_back(Held{message.seq, event_envelope(message, channel_)});
    return batch_turn_.request();
  }
  std::vector<uint64_t> seqs{message.seq};
  std::vector<std::string> headers = request_headers(
      {"Content-Type: " + content_type_, "X-Pgep-Id: " + message.message_id, "X-Pgep-Channel: " + channel_,
       "X-Pgep-Routing-Key: " + message.routing_key},
      message.body);
  http_.post(HttpRequest{url_, std::move(headers), message.body},
             [this, seqs](const HttpResponse& response) { on_answer(seqs, response); });
}

void WebhookPublisher::on_answer(const std::vector<uint64_t>& seqs, const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) {
    for (uint64_t seq : seqs) listener_.on_confirmed(seq);
    return;
  }
  if (response.status == 0 || retry_later(response.status)) {
    std::string where = mask_uri_password(url_);
    std::string reason = response.status == 0 ? "no answer from " + where + ": " + response.error
                                              : where + " answered " + std::to_string(response.status);
    std::string retry_after = response.header("retry-after");
    if (!retry_after.empty()) reason += " (Retry-After: " + retry_after + ")";
    disconnect();
    return listener_.on_broker_away(reason, response.retry_after_ms());
  }
  std::string reason = mask_uri_password(url_) + " refused it with status " + std::to_string(response.status);
  for (uint64_t seq : seqs) listener_.on_refused(seq, reason);
}

}  // namespace pgep
