// pgep-worker: started by pgep (fork + exec), one per bridge, with its end of a socketpair as
// fd 3. It publishes what the supervisor sends to one broker and acknowledges what the broker
// confirmed. It exits when the supervisor goes away, and asks the kernel to signal it when its
// parent dies, so that a supervisor killed with -9 leaves no orphan publishing.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <string>

#include "shared/log.h"
#include "workers/worker.h"

namespace {
constexpr int kSupervisorFd = 3;
}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--version") {
    std::printf("pgep-worker %s\n", PGEP_VERSION);
    return 0;
  }
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent || fcntl(kSupervisorFd, F_GETFD) < 0) {
    std::fprintf(stderr, "pgep-worker: started by pgep only (its socket is fd 3)\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  fcntl(kSupervisorFd, F_SETFD, FD_CLOEXEC);
  pgep::log_setup(argc > 1 ? std::string("pgep-worker[") + argv[1] + "]" : "pgep-worker",
                  pgep::LogLevel::Info, pgep::LogFormat::Text, pgep::LogOutput::Stderr);

  uv_loop_t loop;
  if (int error = uv_loop_init(&loop); error != 0) {
    pgep::log_error(std::string("cannot start the event loop: ") + uv_strerror(error));
    return 1;
  }
  int status = 0;
  try {
    pgep::Worker worker(&loop, kSupervisorFd);
    worker.start();
    uv_run(&loop, UV_RUN_DEFAULT);
    status = worker.exit_status();
  } catch (const std::exception& e) {
    pgep::log_error(e.what());
    status = 1;
  }
  // Let libuv finish closing what the worker owned.
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return status;
}
