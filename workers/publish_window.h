// The worker's bookkeeping of what it received, published and had confirmed, apart from any
// broker: messages wait in seq order until the broker confirmed them; at most `limit` are
// published and unconfirmed at once; confirmations may come out of order, but the supervisor
// is acknowledged cumulatively, so only the confirmed prefix is acknowledged; after a
// reconnect everything unconfirmed is published again, in order. Pure state: worker.cc does
// the I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "ipc/frame.h"

namespace pgep {

class PublishWindow {
 public:
  explicit PublishWindow(size_t limit = 1000) : limit_(limit < 1 ? 1 : limit) {}
  void set_limit(size_t limit) { limit_ = limit < 1 ? 1 : limit; }

  // Takes a message from the supervisor. Returns an error for a seq not above the last one.
  std::optional<std::string> add(ipc::Publish&& message);
  // The next message to publish on the current connection, or null when the window is full
  // or everything went out. The pointer is valid until the message is acknowledged.
  const ipc::Publish* next();
  // The broker confirmed `seq`. False for a seq unknown or confirmed already (a confirmation
  // from a connection given up on).
  bool confirm(uint64_t seq);
  // Drops the confirmed messages at the front; returns the last one's seq, the cumulative
  // acknowledgement for the supervisor, or nullopt when the front is not confirmed.
  std::optional<uint64_t> take_confirmed_prefix();
  // The broker refused `seq` (a nack, a return with unroutable = error, an error reply): it is
  // held apart, to be published again alone (take_refused); the others go on. False for a seq
  // unknown, confirmed or refused already.
  bool refuse(uint64_t seq);
  // The refused messages, to publish again now (in flight again).
  std::vector<const ipc::Publish*> take_refused();
  bool has_refused() const { return refused_ > 0; }
  // A new connection (or none): nothing is published on it yet.
  void restart();

  const ipc::Publish* find(uint64_t seq) const;
  size_t size() const { return pending_.size(); }
  bool empty() const { return pending_.empty(); }
  size_t in_flight() const { return in_flight_; }

 private:
  struct Pending {
    ipc::Publish message;
    bool confirmed = false;
    bool refused = false;
  };
  size_t limit_;
  std::deque<Pending> pending_;  // received, not yet acknowledged to the supervisor, in seq order
  size_t published_ = 0;         // pending_[0, published_) went out on the current connection
  size_t in_flight_ = 0;         // published and not yet confirmed
  size_t refused_ = 0;           // entries refused and not yet published again
};

}  // namespace pgep
