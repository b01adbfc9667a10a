// What the publishers over HTTP (webhook, the AWS kinds) share: HTTP has no session to open, so
// "connected" is said at the next loop turn, never inside connect(), and only an answer shows
// the server is there (connected_means_reachable is false: the worker's backoff starts afresh
// at the first answer).
#pragma once

#include <uv.h>

#include "shared/next_turn.h"
#include "workers/publisher.h"

namespace pgep {

class HttpPublisher : public Publisher {
 public:
  void connect() final {
    disconnect();
    connected_turn_.request();
  }
  void disconnect() final {
    connected_turn_.cancel();
    connected_ = false;
    drop_requests();
  }
  bool connected_means_reachable() const final { return false; }

 protected:
  HttpPublisher(uv_loop_t* loop, PublisherListener& listener)
      : listener_(listener), connected_turn_(loop, [this] {
          connected_ = true;
          listener_.on_broker_connected();
        }) {}
  // Drops the requests in flight (their answers are not heard) and what waits to be sent.
  virtual void drop_requests() = 0;
  bool connected() const { return connected_; }

  PublisherListener& listener_;

 private:
  NextTurn connected_turn_;
  bool connected_ = false;
};

}  // namespace pgep
