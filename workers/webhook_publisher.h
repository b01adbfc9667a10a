// Webhooks: each event is POSTed to the upstream's uri plus the bridge's path, over HTTP/1.1
// or HTTP/2 (HttpClient, on the worker's loop), at most max_in_flight at once.
//
// The body is the event's body as is, with Content-Type from content_type, the headers
// X-Pgep-Id, X-Pgep-Channel and X-Pgep-Routing-Key, the upstream's own `headers`, and, with a
// `secret`, X-Pgep-Timestamp and X-Pgep-Signature: "sha256=" and the hex HMAC-SHA256 of
// "TIMESTAMP.BODY" under the secret.
//
// What an answer means: 2xx confirms the event. 408, 429 and 5xx, and no answer at all
// (refused, reset, timed out), mean the server cannot take it now: the bridge is "lost", so
// everything unconfirmed is sent again after the worker's backoff. Any other status is the
// server refusing this event: it is refused, retried alone, and a dead letter after
// dead_letter_after refusals.
#pragma once

#include <uv.h>

#include <string>
#include <utility>
#include <vector>

#include "shared/next_turn.h"
#include "shared/settings.h"
#include "workers/http_client.h"
#include "workers/publisher.h"

namespace pgep {

class WebhookPublisher : public Publisher {
 public:
  WebhookPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);

  void connect() override;
  void publish(const ipc::Publish& message) override;
  void disconnect() override;
  bool connected_means_reachable() const override { return false; }

 private:
  void on_answer(uint64_t seq, const HttpResponse& response);
  std::vector<std::string> headers_for(const ipc::Publish& message) const;

  PublisherListener& listener_;
  HttpClient http_;
  std::string url_;  // the uri and the bridge's path
  std::string channel_;
  std::string content_type_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string secret_;
  NextTurn connected_turn_;  // "connected" is said from the loop, never inside connect()
  bool connected_ = false;
};

// The signature header's value for `body` sent at `timestamp` (seconds since the epoch).
std::string webhook_signature(const std::string& secret, const std::string& timestamp, const std::string& body);

}  // namespace pgep
