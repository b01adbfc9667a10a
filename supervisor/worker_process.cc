#include "supervisor/worker_process.h"

#include "shared/values.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

namespace pgep {

namespace {
constexpr int kWorkerFd = 3;
// What a worker's environment holds: nothing the supervisor was given (PGPROXY_… settings,
// *_FILE secrets, whatever its service manager set), only what libraries read for the locale,
// the time zone, the system's CA store and the sanitizers. Its settings come in a frame.
constexpr const char* kPassedOn[] = {"TZ", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "SSL_CERT_FILE",
                                     "SSL_CERT_DIR", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
constexpr const char* kWorkerPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

std::vector<std::string> worker_environment() {
  std::vector<std::string> env{kWorkerPath};
  for (const char* name : kPassedOn) {
    if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  }
  return env;
}
// The worker's counters that add up across its restarts (the others describe its present).
constexpr const char* kCumulative[] = {"published", "confirmed", "unroutable", "refused"};
}  // namespace

WorkerProcess::WorkerProcess(uv_loop_t* loop, std::string bridge, std::map<std::string, std::string> settings,
                             Ledger& ledger, std::string worker_path, Owner& owner)
    : loop_(loop),
      log_("bridge " + bridge + ": "),
      bridge_(std::move(bridge)),
      settings_(std::move(settings)),
      ledger_(ledger),
      worker_path_(std::move(worker_path)),
      owner_(owner),
      restart_(loop, Backoff(200, 30000), [this] { start(); }),
      deadline_timer_([loop](uv_timer_t* t) { return uv_timer_init(loop, t); }),
      pump_turn_(loop, [this] { pump_now(); }) {
  deadline_timer_.get()->data = this;
}

WorkerProcess::~WorkerProcess() {
  if (process_ && pid_ > 0) uv_process_kill(process_.get(), SIGKILL);
}

void WorkerProcess::start() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    log_.error(std::string("socketpair: ") + std::strerror(errno));
    return on_exit(-1, 0);
  }
  if (!spawn(fds[1])) {
    close(fds[0]);
    return on_exit(-1, 0);
  }
  try {
    link_ = std::make_unique<Link>(loop_, fds[0], ledger_, link_window(), *this);
  } catch (const std::exception& e) {
    return kill_worker(e.what());
  }
  state_ = State::Starting;
  log_.debug("started worker pid " + std::to_string(pid_));
}

// Starts pgep-worker with `worker_fd` as its fd 3; the supervisor's copy is closed either way.
bool WorkerProcess::spawn(int worker_fd) {
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = STDOUT_FILENO;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = STDERR_FILENO;
  stdio[kWorkerFd].flags = UV_INHERIT_FD;
  stdio[kWorkerFd].data.fd = worker_fd;
  // The bridge's name on argv shows in ps; its settings (secrets included) go in a frame.
  char* argv[] = {worker_path_.data(), bridge_.data(), nullptr};
  std::vector<std::string> env = worker_environment();
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  uv_process_options_t options{};
  options.file = worker_path_.c_str();
  options.args = argv;
  options.env = envp.data();
  options.stdio = stdio;
  options.stdio_count = 4;
  options.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
    if (p->data) static_cast<WorkerProcess*>(p->data)->on_exit(status, signal);
  };
  try {
    process_ = UvHandle<uv_process_t>([&](uv_process_t* p) { return uv_spawn(loop_, p, &options); });
  } catch (const std::exception& e) {
    close(worker_fd);
    log_.error("cannot start " + worker_path_ + ": " + e.what());
    return false;
  }
  close(worker_fd);
  process_.get()->data = this;
  pid_ = process_.get()->pid;
  return true;
}

// The configuration checked max_in_flight; a settings map without it (a test's) gets the default.
LinkWindow WorkerProcess::link_window() const {
  auto found = settings_.find("max_in_flight");
  std::optional<uint64_t> max_in_flight;
  if (found != settings_.end()) max_in_flight = parse_uint(found->second, 1, 65535);
  return LinkWindow::for_worker(max_in_flight.value_or(1000));
}

// Once per loop turn: every event a read from PostgreSQL routed here, and every
// acknowledgement, goes to the worker in one write.
void WorkerProcess::pump() { pump_turn_.request(); }

void WorkerProcess::pump_now() {
  if ((state_ == State::Running || state_ == State::Stopping) && link_) link_->pump();
}

void WorkerProcess::on_ack(uint64_t seq) {
  if (ledger_.acknowledge(seq) > 0) {
    restart_.succeeded();  // the worker works: a crash after this waits the shortest delay
    owner_.on_acknowledged();
  }
  pump();
}

void WorkerProcess::on_stats(const ipc::Stats& stats) { stats_ = stats.counters; }

void WorkerProcess::on_nack(const ipc::Nack& nack) {
  last_error_ = nack.error;
  // The worker says it, once a minute per routing key; each refusal counts in its stats.
  if (nack.retryable) return;
  // The worker gave up on it and acknowledges past it: the ledger holds its seq meanwhile.
  ipc::Publish message;
  if (!ledger_.take(nack.seq, message)) return;  // acknowledged already: nothing to give up
  owner_.on_gave_up(std::move(message), nack.error);
  pump();
}

void WorkerProcess::on_hello(const ipc::Hello& hello) {
  // Asked to stop before its Hello came: the Shutdown frame already sent is its answer.
  if (state_ == State::Stopping) return log_.debug("worker pid " + std::to_string(pid_) + " said Hello while stopping");
  if (state_ != State::Starting) return kill_worker("said Hello twice");
  if (hello.protocol_version != ipc::kProtocolVersion) {
    return kill_worker("speaks protocol " + std::to_string(hello.protocol_version) + ", expected " +
                       std::to_string(ipc::kProtocolVersion) + " (pgep and pgep-worker of different versions?)");
  }
  link_->send(ipc::Configure{bridge_, settings_});
  state_ = State::Running;
  if (ledger_.size() > 0) {
    log_.info("worker pid " + std::to_string(pid_) + " ready; sending " + std::to_string(ledger_.size()) +
              " unacknowledged event(s)");
  }
  pump();
}

void WorkerProcess::on_link_broken(const std::string& why) { kill_worker(why); }

void WorkerProcess::kill_worker(const std::string& why) {
  log_.error("worker pid " + std::to_string(pid_) + " " + why + "; killing it");
  link_.reset();
  if (process_) uv_process_kill(process_.get(), SIGKILL);
}

void WorkerProcess::on_link_closed(const std::string& reason) {
  // The process's exit follows (a worker exits when its socket fails); make sure of it.
  log_.debug("link closed: " + reason);
  link_.reset();
  if (process_ && state_ != State::Stopping) uv_process_kill(process_.get(), SIGTERM);
}

void WorkerProcess::on_exit(int64_t status, int signal) {
  uv_timer_stop(deadline_timer_.get());
  process_.reset();
  link_.reset();
  pid_ = 0;
  // What the worker counted stays counted; what it said of its connection is no longer true.
  for (const char* key : kCumulative) earlier_[key] += stat_of_current(key);
  stats_.clear();
  if (state_ == State::Stopping || state_ == State::Stopped) {
    state_ = State::Stopped;
    owner_.on_worker_stopped();
    return;
  }
  ++restarts_;
  state_ = State::Restarting;
  std::string how;
  if (restart_requested_) {
    how = "stopped for a restart";
    restart_.retry_now();
  } else {
    how = signal ? "was killed by signal " + std::to_string(signal) : "exited with status " + std::to_string(status);
    last_error_ = "worker " + how;
    // Every exit is logged, not only the first of a kind: each one resends events.
    (void)restart_.failed(last_error_, /*was_up=*/false);
  }
  log_.write(restart_requested_ ? LogLevel::Info : LogLevel::Warn,
             "worker " + how + "; restarting in " + std::to_string(restart_.delay_ms()) + " ms with " +
                 std::to_string(ledger_.size()) + " unacknowledged event(s) to resend");
  restart_requested_ = false;
}

void WorkerProcess::shutdown(uint64_t deadline_ms) {
  if (state_ == State::Stopped) return;
  if (!process_) {
    restart_.cancel();
    state_ = State::Stopped;
    owner_.on_worker_stopped();
    return;
  }
  state_ = State::Stopping;
  if (link_ && link_->open()) {
    link_->send(ipc::Shutdown{});
  } else {
    uv_process_kill(process_.get(), SIGTERM);
  }
  uv_timer_start(deadline_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<WorkerProcess*>(t->data);
    if (self->process_) self->kill_worker("did not exit in time");
  }, deadline_ms, 0);
}

void WorkerProcess::reconfigure(std::map<std::string, std::string> settings) {
  settings_ = std::move(settings);
  restart();
}

bool WorkerProcess::restart(int signal) {
  if (!process_ || state_ == State::Stopping || state_ == State::Stopped) return false;
  if (uv_process_kill(process_.get(), signal) != 0) return false;  // it is exiting already
  restart_requested_ = true;
  log_.info("restarting its worker");
  // A hung worker (its loop blocked) does not hear SIGTERM.
  uv_timer_start(deadline_timer_.get(), [](uv_timer_t* t) {
    auto* self = static_cast<WorkerProcess*>(t->data);
    if (self->process_) self->kill_worker("did not exit in time");
  }, kWorkerExitMs, 0);
  return true;
}

uint64_t WorkerProcess::stat_of_current(const std::string& key) const {
  auto found = stats_.find(key);
  return found == stats_.end() ? 0 : found->second;
}

uint64_t WorkerProcess::stat(const std::string& key) const {
  auto earlier = earlier_.find(key);
  return stat_of_current(key) + (earlier == earlier_.end() ? 0 : earlier->second);
}

}  // namespace pgep
