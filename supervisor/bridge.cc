#include "supervisor/bridge.h"

#include <signal.h>

#include "ipc/frame_codec.h"
#include "shared/log.h"
#include "shared/values.h"

namespace pgep {

namespace {

// A setting of the bridge's upstream, or `otherwise` when absent (the configuration checked it).
template <typename Parse>
uint64_t setting(const std::map<std::string, std::string>& settings, const char* key, Parse parse,
                 uint64_t otherwise) {
  auto found = settings.find(key);
  return found == settings.end() ? otherwise : parse(found->second).value_or(otherwise);
}

}  // namespace

Bridge::Bridge(uv_loop_t* loop, std::string name, BridgeSpec spec, std::map<std::string, std::string> settings,
               uint64_t max_events, uint64_t max_bytes, std::string worker_path, Owner& owner)
    : loop_(loop),
      name_(std::move(name)),
      spec_(std::move(spec)),
      owner_(owner),
      max_message_bytes_(setting(settings, "max_message_bytes", parse_size, ipc::kMaxFrameBytes)),
      wal_transaction_records_(!settings.count("wal_transaction_records") ||
                               parse_bool(settings.at("wal_transaction_records")).value_or(true)),
      stall_timeout_ms_(setting(settings, "stall_timeout", parse_duration_ms, 0)),
      ledger_(max_events, max_bytes, name_),
      worker_(loop, name_, std::move(settings), ledger_, std::move(worker_path), *this) {}

Delivery Bridge::submit(ipc::Publish&& message) {
  std::string problem = too_large(message);
  if (!problem.empty()) {
    message.seq = ledger_.append_held();
    Delivery delivery{&ledger_, message.seq};
    owner_.on_dead_letter(*this, std::move(message), problem);
    return delivery;
  }
  if (ledger_.empty()) progress_ms_ = uv_now(loop_);  // outstanding from now
  Delivery delivery{&ledger_, ledger_.append(std::move(message))};
  worker_.pump();
  return delivery;
}

void Bridge::on_acknowledged() {
  progress_ms_ = uv_now(loop_);
  if (stalled_) log_info("bridge " + name_ + ": acknowledgements again; no longer stalled");
  stalled_ = false;
  owner_.on_acknowledged(*this);
}

void Bridge::check_stall() {
  uint64_t now = uv_now(loop_);
  if (stall_timeout_ms_ == 0 || ledger_.empty() || !worker_.running()) {
    progress_ms_ = now;  // nothing outstanding, or no worker to wait for: the clock restarts
    stalled_ = false;
    return;
  }
  if (now - progress_ms_ < stall_timeout_ms_) return;
  stalled_ = true;
  progress_ms_ = now;  // the next check is one stall_timeout later
  std::string what = std::to_string(ledger_.size()) + " event(s) outstanding and no acknowledgement for " +
                     std::to_string(stall_timeout_ms_ / 1000) + " s";
  if (!worker_.broker_connected()) {
    return log_warn("bridge " + name_ + ": stalled: " + what + "; its worker is reconnecting to its broker");
  }
  log_warn("bridge " + name_ + ": stalled: " + what + " while its worker says it is connected; restarting it");
  worker_.restart();
}

std::string Bridge::too_large(const ipc::Publish& message) const {
  if (message.body.size() > max_message_bytes_) {
    return "the message is " + std::to_string(message.body.size()) + " bytes, over max_message_bytes (" +
           std::to_string(max_message_bytes_) + ")";
  }
  size_t frame = ipc::publish_frame_bound(message);
  if (frame > ipc::kMaxFrameBytes) {
    return "the message is " + std::to_string(message.body.size()) + " bytes; with its routing key and id it is over " +
           "the " + std::to_string(ipc::kMaxFrameBytes >> 20) + " MiB a worker takes";
  }
  return "";
}

void Bridge::on_gave_up(ipc::Publish&& message, const std::string& error) {
  owner_.on_dead_letter(*this, std::move(message), error);
}

void Bridge::dead_letter_written(uint64_t seq) {
  ledger_.release(seq);
  ++dead_letters_;
  on_acknowledged();
}

BridgeSnapshot Bridge::snapshot() const {
  BridgeSnapshot s;
  s.name = name_;
  s.state = worker_.state();
  s.pid = static_cast<uint64_t>(worker_.pid() > 0 ? worker_.pid() : 0);
  s.broker_connected = worker_.broker_connected();
  s.in_flight = ledger_.size();
  s.in_flight_bytes = ledger_.bytes();
  s.at_worker = worker_.stat("pending");
  s.published = worker_.stat("published");
  s.acknowledged = ledger_.last_acknowledged();
  s.unroutable = worker_.stat("unroutable");
  s.refused = worker_.stat("refused");
  s.dead_letters = dead_letters_;
  s.restarts = worker_.restarts();
  s.stalled = stalled_;
  s.last_error = worker_.last_error();
  return s;
}

void Bridge::abandon() {
  if (!ledger_.empty()) ledger_.acknowledge(ledger_.entries().back().seq);
  progress_ms_ = 0;
  stalled_ = false;
  worker_.restart(SIGKILL);
}

}  // namespace pgep
