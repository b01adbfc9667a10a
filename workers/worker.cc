#include "workers/worker.h"

#include <unistd.h>

#include <algorithm>

#include "shared/log.h"
#include "shared/settings.h"
#include "shared/uri.h"

namespace pgep {

namespace {
constexpr uint64_t kStatsIntervalMs = 1000;
}  // namespace

Worker::Worker(uv_loop_t* loop, int socket_fd)
    : loop_(loop),
      stream_(ipc::FrameStream::open(loop, socket_fd, this)),
      reconnect_(loop, Backoff(), [this] {
        if (publisher_) publisher_->connect();
      }),
      refusal_retry_(loop, Backoff(100, 10000), [this] { publish_refused_again(); }),
      stats_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      acknowledge_turn_(loop, [this] { acknowledge_confirmed_prefix(); }) {
  stats_timer_.get()->data = this;
}

Worker::~Worker() = default;

void Worker::start() {
  stream_->send(ipc::Hello{ipc::kProtocolVersion, static_cast<uint32_t>(getpid())});
  stream_->flush();
}

void Worker::on_frame(ipc::Frame&& frame) {
  if (auto* publish = std::get_if<ipc::Publish>(&frame)) {
    if (!configured_) return stop_with_error("Publish before Configure");
    enqueue(std::move(*publish));
  } else if (auto* configure_frame = std::get_if<ipc::Configure>(&frame)) {
    if (configured_) return stop_with_error("Configure twice");
    configure(*configure_frame);
  } else if (std::holds_alternative<ipc::Shutdown>(frame)) {
    shutting_down_ = true;
    log_info("asked to shut down with " + std::to_string(window_.size()) + " message(s) unconfirmed");
    if (window_.empty()) stop(0);
  } else {
    stop_with_error(std::string("unexpected ") + ipc::frame_type_name(ipc::frame_type(frame)) +
                    " frame from the supervisor");
  }
}

void Worker::on_stream_closed(const std::string& reason) {
  // The supervisor is gone; what it had not seen acknowledged it (or its successor) resends.
  log_info("supervisor connection closed (" + reason + "); exiting");
  stop(0);
}

void Worker::stop_with_error(const std::string& reason) {
  log_error("protocol error: " + reason);
  stop(1);
}

void Worker::configure(const ipc::Configure& configure) {
  Settings settings(configure.settings);
  bridge_ = configure.bridge;
  log_ = Logger("bridge " + bridge_ + ": ");
  auto word = [&](const char* key) { return configure.settings.count(key) ? configure.settings.at(key) : ""; };
  log_setup("pgep-worker[" + bridge_ + "]", log_level_from(word("log_level")), log_format_from(word("log_format")),
            log_output_from(word("log_output")));
  try {
    window_.set_limit(settings.number("max_in_flight"));
    log_messages_ = configure.settings.count("log_messages") && settings.flag("log_messages");
    if (configure.settings.count("dead_letter_after")) dead_letter_after_ = settings.count_or_never("dead_letter_after");
    publisher_ = make_publisher(loop_, configure.settings, *this);
  } catch (const std::exception& e) {
    log_error("cannot configure bridge " + bridge_ + ": " + e.what());
    return stop(1);
  }
  configured_ = true;
  uv_timer_start(stats_timer_.get(), [](uv_timer_t* t) {
    static_cast<Worker*>(t->data)->send_stats();
  }, kStatsIntervalMs, kStatsIntervalMs);
  log_.info("connecting to " + mask_uri_password(settings.text("uri")));
  publisher_->connect();
}

void Worker::enqueue(ipc::Publish&& message) {
  if (stopping_) return;
  if (auto error = window_.add(std::move(message))) return stop_with_error(*error);
  pump();
}

void Worker::pump() {
  // A publisher may answer inside publish() (a message it can never send is dropped at once);
  // the loop below then goes on, so a nested call has nothing to do.
  if (pumping_) return;
  pumping_ = true;
  while (connected_ && !blocked_) {
    const ipc::Publish* message = window_.next();
    if (!message) break;
    publish(*message);
  }
  pumping_ = false;
}

void Worker::publish(const ipc::Publish& message) {
  ++count_published_;
  if (log_messages_) {
    log_info("publish seq " + std::to_string(message.seq) + " id " + message.message_id + " key \"" +
             message.routing_key + "\" (" + std::to_string(message.body.size()) + " bytes)");
  }
  publisher_->publish(message);
}

void Worker::on_confirmed(uint64_t seq) {
  if (!window_.confirm(seq)) return;  // a confirmation from a connection given up on
  ++count_confirmed_;
  broker_answered();
  if (!window_.has_refused()) refusal_retry_.succeeded();
  // A broker confirms many at once (one read of replies): one acknowledgement covers them.
  acknowledge_turn_.request();
  pump();
}

void Worker::acknowledge_confirmed_prefix() {
  if (std::optional<uint64_t> last = window_.take_confirmed_prefix()) {
    stream_->send(ipc::Ack{*last});
    stream_->flush();
  }
  if (shutting_down_ && window_.empty()) stop(0);
}

// Only the refused message waits: the confirmations already received stay, the messages after
// it go on, and it alone is published again after a backoff.
void Worker::on_refused(uint64_t seq, const std::string& reason) { refuse(seq, reason, /*counts=*/true); }

void Worker::on_retry(uint64_t seq, const std::string& reason) { refuse(seq, reason, /*counts=*/false); }

void Worker::refuse(uint64_t seq, const std::string& reason, bool counts) {
  ++count_refused_;
  if (!window_.refuse(seq, counts)) return;  // from a connection given up on, or refused already
  broker_answered();
  if (over_refusal_limit(seq)) return give_up(seq, reason);
  stream_->send(ipc::Nack{seq, reason, true});
  stream_->flush();
  if (!refusal_retry_.scheduled()) (void)refusal_retry_.failed(reason, /*was_up=*/false);
  log_refusal(seq, reason);
}

// Once per routing key and minute, with how many were refused in between; the counter (status,
// /metrics) has every one. A refused message is published again until the broker takes it.
void Worker::log_refusal(uint64_t seq, const std::string& reason) {
  const ipc::Publish* message = window_.find(seq);
  uint64_t suppressed = 0;
  if (!refused_log_.due(message ? message->routing_key : std::string(), uv_now(loop_), suppressed)) return;
  log_.warn("message " + (message ? message->message_id : std::to_string(seq)) + " refused by the broker: " + reason +
            "; it is published again after a backoff, the messages after it go on" +
            (suppressed ? "; " + std::to_string(suppressed) + " more refusals with this routing key since the last such line"
                        : std::string()) +
            " (said at most once a minute per routing key)");
}

bool Worker::over_refusal_limit(uint64_t seq) const {
  return dead_letter_after_ && window_.refusals(seq) > *dead_letter_after_;
}

// The Nack goes before the acknowledgement that passes the seq: the supervisor holds the event
// until its dead letter is written.
void Worker::give_up(uint64_t seq, const std::string& reason) {
  const ipc::Publish* message = window_.find(seq);
  std::string id = message ? message->message_id : std::to_string(seq);
  std::string why = "refused " + std::to_string(window_.refusals(seq)) + " times, last: " + reason;
  if (!window_.give_up(seq)) return;
  log_.error("message " + id + " " + why + "; giving up on it (dead letter)");
  stream_->send(ipc::Nack{seq, why, false});
  stream_->flush();
  acknowledge_confirmed_prefix();
  pump();
}

void Worker::publish_refused_again() {
  if (!connected_ || blocked_) return;  // a reconnection, or the unblocking, publishes it
  pumping_ = true;  // as in pump(): an answer inside publish() starts no pass of its own
  for (const ipc::Publish* message : window_.take_refused()) publish(*message);
  pumping_ = false;
  pump();
}

// Once per routing key and minute, with how many were dropped in between; the counter
// (status, /metrics) has every one.
void Worker::on_unroutable(uint64_t seq, const std::string& reason) {
  ++count_unroutable_;
  const ipc::Publish* message = window_.find(seq);
  uint64_t suppressed = 0;
  if (unroutable_log_.due(message ? message->routing_key : std::string(), uv_now(loop_), suppressed)) {
    log_.warn("message " + (message ? message->message_id : std::to_string(seq)) + " dropped: " + reason +
              (suppressed ? "; " + std::to_string(suppressed) +
                                " more with this routing key were dropped since the last such line"
                          : std::string()) +
              " (said at most once a minute per routing key)");
  }
  on_confirmed(seq);
}

void Worker::broker_answered() {
  if (!answer_pending_) return;
  answer_pending_ = false;
  reconnect_.succeeded();
}

void Worker::on_broker_connected() {
  connected_ = true;
  if (publisher_->connected_means_reachable()) {
    reconnect_.succeeded();
  } else {
    answer_pending_ = true;  // the first answer shows the server is there
  }
  // The window was restarted when the connection before was lost (with a probe, if need be).
  log_.info("broker connected; " + std::to_string(window_.size()) + " message(s) to publish");
  pump();
}

void Worker::on_broker_blocked(bool blocked, const std::string& reason) {
  blocked_ = blocked;
  if (blocked) {
    log_.warn("the broker blocks publishing (" + reason + "); " + std::to_string(window_.size()) +
              " message(s) wait, and the bridge is not ready");
    return;
  }
  log_.info("the broker takes messages again");
  if (window_.has_refused() && !refusal_retry_.scheduled()) return publish_refused_again();
  pump();
}

void Worker::on_broker_away(const std::string& reason, uint64_t retry_after_ms) {
  lose_broker(reason, false);
  reconnect_.not_before(retry_after_ms);
}

void Worker::lose_broker(const std::string& reason, bool closed_by_broker) {
  bool was_connected = connected_;
  connected_ = false;
  blocked_ = false;
  // A probe alone on the connection when the broker closed it is what the broker refused.
  uint64_t probe = window_.probe_in_flight();
  bool unconfirmed = window_.in_flight() > 0;
  window_.restart(/*probe=*/unconfirmed || probe != 0);
  if (probe != 0 && closed_by_broker) {
    window_.count_refusal(probe);
    ++count_refused_;
    if (over_refusal_limit(probe)) give_up(probe, reason);
  }
  if (reconnect_.failed(reason, was_connected)) {
    log_.warn(std::string("broker ") + (was_connected ? "lost" : "unreachable") + ": " +
             reason + "; retrying with backoff");
  }
}

void Worker::send_stats() {
  ipc::Stats stats;
  stats.counters = {{"published", count_published_}, {"confirmed", count_confirmed_},
                    {"unroutable", count_unroutable_}, {"refused", count_refused_},
                    {"connected", connected_ && !blocked_ ? 1u : 0u}, {"blocked", blocked_ ? 1u : 0u},
                    {"in_flight", window_.in_flight()},
                    {"pending", window_.size()}};
  stream_->send(stats);
  stream_->flush();
}

void Worker::stop(int status) {
  // Only ends the loop: this may run inside a publisher's or the stream's callback, so the
  // objects are destroyed by main() once the loop has returned.
  if (stopping_) return;
  stopping_ = true;
  exit_status_ = status;
  uv_stop(loop_);
}

}  // namespace pgep
