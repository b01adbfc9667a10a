#include "workers/webhook_publisher.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include "shared/config_options.h"
#include "shared/uri.h"

namespace pgep {

namespace {

bool retry_later(long status) { return status == 408 || status == 429 || status >= 500; }

// Retry-After: seconds, or an HTTP date; at most an hour (a typo must not stop a bridge for a day).
uint64_t retry_after_ms(const std::string& value) {
  constexpr uint64_t kMaxMs = 3600 * 1000;
  if (value.empty()) return 0;
  uint64_t ms = 0;
  if (value.find_first_not_of("0123456789") == std::string::npos) {
    ms = value.size() > 7 ? kMaxMs : std::stoull(value) * 1000;
  } else if (time_t when = curl_getdate(value.c_str(), nullptr); when > 0) {
    time_t now = std::time(nullptr);
    ms = when > now ? static_cast<uint64_t>(when - now) * 1000 : 0;
  }
  return std::min(ms, kMaxMs);
}

std::string joined_url(const std::string& uri, const std::string& path) {
  if (path.empty()) return uri;
  if (!uri.empty() && uri.back() == '/') return uri + path.substr(1);
  return uri + path;
}

}  // namespace

std::string webhook_signature(const std::string& secret, const std::string& timestamp, const std::string& body) {
  std::string signed_text = timestamp + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest, &length);
  static const char kHex[] = "0123456789abcdef";
  std::string hex = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

WebhookPublisher::WebhookPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : listener_(listener),
      http_(loop, HttpOptions{settings.duration_ms("timeout"), settings.text("tls_ca_file"), settings.text("tls_cert_file"),
                              settings.text("tls_key_file"), settings.flag("tls_verify")}),
      url_(joined_url(settings.text("uri"), settings.text(kSettingTarget))),
      channel_(settings.text(kSettingChannel)),
      content_type_(settings.text("content_type")),
      headers_(parse_header_list(settings.text("headers"))),
      secret_(settings.text("secret")),
      connected_turn_(loop, [this] {
        connected_ = true;
        listener_.on_broker_connected();
      }) {}

// HTTP has no session to open: requests find out whether the server is there.
void WebhookPublisher::connect() {
  disconnect();
  connected_turn_.request();
}

void WebhookPublisher::disconnect() {
  connected_turn_.cancel();
  connected_ = false;
  http_.cancel_all();
}

std::vector<std::string> WebhookPublisher::headers_for(const ipc::Publish& message) const {
  std::vector<std::string> headers;
  headers.reserve(headers_.size() + 6);
  headers.push_back("Content-Type: " + content_type_);
  headers.push_back("X-Pgep-Id: " + message.message_id);
  headers.push_back("X-Pgep-Channel: " + channel_);
  headers.push_back("X-Pgep-Routing-Key: " + message.routing_key);
  for (const auto& [name, value] : headers_) headers.push_back(name + ": " + value);
  if (!secret_.empty()) {
    std::string timestamp = std::to_string(std::time(nullptr));
    headers.push_back("X-Pgep-Timestamp: " + timestamp);
    headers.push_back("X-Pgep-Signature: " + webhook_signature(secret_, timestamp, message.body));
  }
  return headers;
}

void WebhookPublisher::publish(const ipc::Publish& message) {
  if (!connected_) return;
  // A header value may not hold a line break: the routing key and id go in headers.
  if (message.routing_key.find_first_of("\r\n") != std::string::npos) {
    return listener_.on_unroutable(message.seq, "the routing key holds a line break, which no HTTP header may carry");
  }
  uint64_t seq = message.seq;
  http_.post(HttpRequest{url_, headers_for(message), message.body},
             [this, seq](const HttpResponse& response) { on_answer(seq, response); });
}

void WebhookPublisher::on_answer(uint64_t seq, const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return listener_.on_confirmed(seq);
  if (response.status == 0 || retry_later(response.status)) {
    std::string where = mask_uri_password(url_);
    std::string reason = response.status == 0 ? "no answer from " + where + ": " + response.error
                                              : where + " answered " + std::to_string(response.status);
    uint64_t quiet_ms = response.status == 0 ? 0 : retry_after_ms(response.retry_after);
    if (!response.retry_after.empty()) reason += " (Retry-After: " + response.retry_after + ")";
    disconnect();
    return listener_.on_broker_away(reason, quiet_ms);
  }
  listener_.on_refused(seq, mask_uri_password(url_) + " refused it with status " + std::to_string(response.status));
}

}  // namespace pgep
