// Webhooks: each event is POSTed to the upstream's uri plus the bridge's path, over HTTP/1.1
// or HTTP/2 (HttpClient, on the worker's loop), at most max_in_flight at once.
//
// The body is the event's body as is, with Content-Type from content_type, the headers
// X-Pgep-Id, X-Pgep-Channel and X-Pgep-Routing-Key, the upstream's own `headers`, and, with a
// `secret`, X-Pgep-Timestamp and X-Pgep-Signature: "sha256=" and the hex HMAC-SHA256 of
// "TIMESTAMP.BODY" under the secret.
//
// With batch = N > 1, what one loop turn publishes goes in requests of up to N events: a JSON
// array of {"id", "channel", "routing_key", "body"}, the body itself when it is JSON, else a
// JSON string; the request's answer counts for each of its events.
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
#include "workers/http_publisher.h"

namespace pgep {

class WebhookPublisher : public HttpPublisher {
 public:
  WebhookPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener);

  void publish(const ipc::Publish& message) override;

 private:
  void drop_requests() override;
  void on_answer(const std::vector<uint64_t>& seqs, const HttpResponse& response);
  std::vector<std::string> request_headers(std::vector<std::string> headers, const std::string& body) const;
  void send_batches();

  HttpClient http_;
  std::string url_;  // the uri and the bridge's path
  std::string channel_;
  std::string content_type_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string secret_;
  size_t batch_ = 1;
  struct Held {
    uint64_t seq;
    std::string envelope;  // the event's entry in a batch's array
  };
  std::vector<Held> held_;  // batch > 1: published this turn, sent at its end
  NextTurn batch_turn_;
};

// The signature header's value for `body` sent at `timestamp` (seconds since the epoch).
std::string webhook_signature(const std::string& secret, const std::string& timestamp, const std::string& body);

}  // namespace pgep
