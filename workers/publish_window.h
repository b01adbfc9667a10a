// The worker's bookkeeping of what it received, published and had confirmed, apart from any
// broker: messages wait in seq order until the broker confirmed them; at most `limit` are
// published and unconfirmed at once; confirmations may come out of order, but the supervisor
// is acknowledged cumulatively, so only the confirmed prefix is acknowledged; after a
// reconnect everything unconfirmed is published again, in order. A connection lost with
// messages in flight is followed by a probe: the first unconfirmed message goes out alone until
// it is confirmed, so a message the broker closes the connection over is known by its seq. Each
// message counts its refusals, so the worker can give up on one (a dead letter) and go on.
// Pure state: worker.cc does the I/O.
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
  // `counts`: the refusal counts toward refusals(seq) (false for a service's own transient fault).
  bool refuse(uint64_t seq, bool counts = true);
  // Counts one more refusal of `seq` (refuse() counts too); returns how many it has had.
  uint32_t count_refusal(uint64_t seq);
  uint32_t refusals(uint64_t seq) const;
  // The worker gave up on `seq` (its dead letter goes to the supervisor): it counts as
  // confirmed, so the acknowledgement passes it. False for a seq unknown or confirmed already.
  bool give_up(uint64_t seq);
  // The refused messages, to publish again now (in flight again).
  std::vector<const ipc::Publish*> take_refused();
  bool has_refused() const { return refused_ > 0; }
  // A new connection (or none): nothing is published on it yet. With `probe`, the first
  // unconfirmed message goes out alone until it is confirmed or refused.
  void restart(bool probe = false);
  // The seq of the probe published on this connection and not yet answered, or 0.
  uint64_t probe_in_flight() const;

  const ipc::Publish* find(uint64_t seq) const;
  size_t size() const { return pending_.size(); }
  bool empty() const { return pending_.empty(); }
  size_t in_flight() const { return in_flight_; }

 private:
  struct Pending {
    ipc::Publish message;
    bool confirmed = false;
    bool refused = false;
    uint32_t refusals = 0;  // by the broker, on any connection
  };
  Pending* entry(uint64_t seq);
  void end_probe(uint64_t seq);
  size_t limit_;
  std::deque<Pending> pending_;  // received, not yet acknowledged to the supervisor, in seq order
  size_t published_ = 0;         // pending_[0, published_) went out on the current connection
  size_t in_flight_ = 0;         // published and not yet confirmed
  size_t refused_ = 0;           // entries refused and not yet published again
  bool probing_ = false;         // only the first unconfirmed entry may be in flight
  uint64_t probe_seq_ = 0;       // which one that is, once published
};

}  // namespace pgep
