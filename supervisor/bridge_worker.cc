#include "supervisor/bridge_worker.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shared/json_writer.h"
#include "shared/log.h"

namespace pgep {

namespace {
// Frames queued for one worker beyond this wait for its acknowledgements: the ledger, not the
// socket buffer, is where events wait.
constexpr size_t kMaxLinkBytes = 4u << 20;
constexpr int kWorkerFd = 3;
}  // namespace

BridgeWorker::BridgeWorker(uv_loop_t* loop, std::string name, BridgeSpec spec,
                           std::map<std::string, std::string> settings, uint64_t max_events, uint64_t max_bytes,
                           std::string worker_path, Owner& owner)
    : loop_(loop),
      name_(std::move(name)),
      spec_(std::move(spec)),
      settings_(std::move(settings)),
      worker_path_(std::move(worker_path)),
      owner_(owner),
      ledger_(max_events, max_bytes),
      timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }) {
  timer_.get()->data = this;
}

BridgeWorker::~BridgeWorker() {
  if (process_ && pid_ > 0) uv_process_kill(process_.get(), SIGKILL);
}

void BridgeWorker::start() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    log_error("bridge " + name_ + ": socketpair: " + std::strerror(errno));
    return on_exit(-1, 0);
  }
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = STDOUT_FILENO;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = STDERR_FILENO;
  stdio[kWorkerFd].flags = UV_INHERIT_FD;
  stdio[kWorkerFd].data.fd = fds[1];
  // The bridge's name on argv shows in ps; its settings (secrets included) go in a frame.
  char* argv[] = {worker_path_.data(), name_.data(), nullptr};
  uv_process_options_t options{};
  options.file = worker_path_.c_str();
  options.args = argv;
  options.stdio = stdio;
  options.stdio_count = 4;
  options.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
    if (p->data) static_cast<BridgeWorker*>(p->data)->on_exit(status, signal);
  };
  try {
    process_ = UvHandle<uv_process_t>([&](uv_process_t* p) { return uv_spawn(loop_, p, &options); });
  } catch (const std::exception& e) {
    close(fds[0]);
    close(fds[1]);
    log_error("bridge " + name_ + ": cannot start " + worker_path_ + ": " + e.what());
    return on_exit(-1, 0);
  }
  close(fds[1]);
  process_.get()->data = this;
  pid_ = process_.get()->pid;
  link_ = ipc::FrameStream::open(loop_, fds[0], this);
  state_ = State::Starting;
  sent_upto_ = ledger_.last_acknowledged();
  log_debug("bridge " + name_ + ": started worker pid " + std::to_string(pid_));
}

uint64_t BridgeWorker::submit(ipc::Publish&& message) {
  uint64_t seq = ledger_.append(std::move(message));
  pump();
  return seq;
}

void BridgeWorker::pump() {
  if (state_ != State::Running && state_ != State::Stopping) return;
  if (!link_ || link_->closed()) return;
  const auto& entries = ledger_.entries();
  if (entries.empty() || entries.back().seq <= sent_upto_) return;
  // Entries are in seq order: find the first one not yet sent.
  auto it = entries.begin();
  if (sent_upto_ >= entries.front().seq) it += static_cast<std::ptrdiff_t>(sent_upto_ - entries.front().seq + 1);
  for (; it != entries.end() && link_->pending_bytes() < kMaxLinkBytes; ++it) {
    link_->send(*it);
    sent_upto_ = it->seq;
  }
  link_->flush();
}

void BridgeWorker::on_frame(ipc::Frame&& frame) {
  if (auto* ack = std::get_if<ipc::Ack>(&frame)) {
    if (ack->seq > sent_upto_) return kill_worker("acknowledged seq " + std::to_string(ack->seq) + " it was never sent");
    if (ledger_.acknowledge(ack->seq) > 0) {
      backoff_.reset();
      owner_.on_acknowledged(*this);
    }
    return pump();
  }
  if (auto* hello = std::get_if<ipc::Hello>(&frame)) return on_hello(*hello);
  if (auto* stats = std::get_if<ipc::Stats>(&frame)) {
    stats_ = stats->counters;
    return;
  }
  if (auto* nack = std::get_if<ipc::Nack>(&frame)) {
    last_error_ = nack->error;
    log_warn("bridge " + name_ + ": seq " + std::to_string(nack->seq) + " refused by the broker: " + nack->error +
             (nack->retryable ? " (it will be published again)" : ""));
    return;
  }
  kill_worker(std::string("sent an unexpected ") + ipc::frame_type_name(ipc::frame_type(frame)) + " frame");
}

void BridgeWorker::on_hello(const ipc::Hello& hello) {
  if (state_ != State::Starting) return kill_worker("said Hello twice");
  if (hello.protocol_version != ipc::kProtocolVersion) {
    return kill_worker("speaks protocol " + std::to_string(hello.protocol_version) + ", expected " +
                       std::to_string(ipc::kProtocolVersion) + " (pgep and pgep-worker of different versions?)");
  }
  link_->send(ipc::Configure{name_, settings_});
  state_ = State::Running;
  if (ledger_.size() > 0) {
    log_info("bridge " + name_ + ": worker pid " + std::to_string(pid_) + " ready; sending " +
             std::to_string(ledger_.size()) + " unacknowledged event(s)");
  }
  pump();
  link_->flush();
}

void BridgeWorker::kill_worker(const std::string& why) {
  log_error("bridge " + name_ + ": worker pid " + std::to_string(pid_) + " " + why + "; killing it");
  link_.reset();
  if (process_) uv_process_kill(process_.get(), SIGKILL);
}

void BridgeWorker::on_stream_closed(const std::string& reason) {
  // The process's exit follows (a worker exits when its socket fails); make sure of it.
  log_debug("bridge " + name_ + ": link closed: " + reason);
  link_.reset();
  if (process_ && state_ != State::Stopping) uv_process_kill(process_.get(), SIGTERM);
}

void BridgeWorker::on_exit(int64_t status, int signal) {
  process_.reset();
  link_.reset();
  pid_ = 0;
  if (state_ == State::Stopping || state_ == State::Stopped) {
    uv_timer_stop(timer_.get());
    state_ = State::Stopped;
    owner_.on_worker_stopped(*this);
    return;
  }
  ++restarts_;
  uint64_t delay = restart_requested_ ? 0 : backoff_.next();
  std::string how = signal ? "was killed by signal " + std::to_string(signal) : "exited with status " + std::to_string(status);
  if (restart_requested_) how = "stopped for a restart";
  restart_requested_ = false;
  if (!how.empty() && how != "stopped for a restart") last_error_ = "worker " + how;
  log_write(how == "stopped for a restart" ? LogLevel::Info : LogLevel::Warn,
            "bridge " + name_ + ": worker " + how + "; restarting in " + std::to_string(delay) + " ms with " +
                std::to_string(ledger_.size()) + " unacknowledged event(s) to resend");
  state_ = State::Restarting;
  uv_timer_start(timer_.get(), [](uv_timer_t* t) { static_cast<BridgeWorker*>(t->data)->start(); }, delay, 0);
}

void BridgeWorker::shutdown(uint64_t deadline_ms) {
  if (state_ == State::Stopped) return;
  if (!process_) {
    uv_timer_stop(timer_.get());
    state_ = State::Stopped;
    owner_.on_worker_stopped(*this);
    return;
  }
  state_ = State::Stopping;
  if (link_ && !link_->closed()) {
    link_->send(ipc::Shutdown{});
    link_->flush();
  } else {
    uv_process_kill(process_.get(), SIGTERM);
  }
  uv_timer_start(timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<BridgeWorker*>(t->data);
    if (self->process_) self->kill_worker("did not exit in time");
  }, deadline_ms, 0);
}

}  // namespace pgep

namespace pgep {

std::string BridgeWorker::status_json() const {
  static const char* const kStates[] = {"idle", "starting", "running", "restarting", "stopping", "stopped"};
  auto stat = [&](const char* key) { return stats_.count(key) ? stats_.at(key) : uint64_t{0}; };
  return JsonObject()
      .add("name", name_)
      .add("state", kStates[static_cast<int>(state_)])
      .add("pid", static_cast<uint64_t>(pid_ > 0 ? pid_ : 0))
      .add("broker_connected", broker_connected())
      .add("in_flight", static_cast<uint64_t>(ledger_.size()))
      .add("in_flight_bytes", ledger_.bytes())
      .add("published", stat("published"))
      .add("acknowledged", ledger_.last_acknowledged())
      .add("unroutable", stat("unroutable"))
      .add("restarts", restarts_)
      .add("last_error", last_error_)
      .str();
}

void BridgeWorker::reconfigure(std::map<std::string, std::string> settings) {
  settings_ = std::move(settings);
  restart();
}

void BridgeWorker::restart() {
  if (!process_ || state_ == State::Stopping || state_ == State::Stopped) return;
  restart_requested_ = true;
  log_info("bridge " + name_ + ": restarting its worker on request");
  uv_process_kill(process_.get(), SIGTERM);
}

}  // namespace pgep
