// pgep, the supervisor: reads the configuration and runs the sources, the ledger and one
// worker per bridge (see ../README.md and docs/).
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cerrno>
#include <cstring>
#include <string>

#include "shared/config.h"
#include "shared/log.h"
#include "shared/unix_socket.h"
#include "supervisor/admin/check_config.h"
#include "supervisor/private_paths.h"
#include "supervisor/unverified_peers.h"
#include "supervisor/supervisor.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: pgep [CONFIG_FILE]                 run with the file and the environment\n"
               "       pgep --check-config [CONFIG_FILE]  check, print the effective settings\n"
               "       pgep -t [CONFIG_FILE]              the same\n"
               "       pgep --version | --help\n");
}

// pgep-worker lives beside pgep's own executable (build/ or PREFIX/bin).
std::string worker_path() {
  char self[PATH_MAX] = {};
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string("pgep");
  return path.substr(0, path.rfind('/') + 1) + "pgep-worker";
}

// Removes the pid file when pgep ends, however run() returns. Never written through a link
// (private_paths.h).
class PidFile {
 public:
  explicit PidFile(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    std::string line = std::to_string(getpid()) + "\n";
    if (fd < 0 || !pgep::write_all(fd, line)) pgep::log_warn("cannot write the pid file " + path_ + ": " + std::strerror(errno));
    if (fd >= 0) ::close(fd);
  }
  ~PidFile() {
    if (!path_.empty()) unlink(path_.c_str());
  }

 private:
  std::string path_;
};

int run(const std::string& file) {
  pgep::ConfigInput input = pgep::ConfigInput::from_process(file);
  pgep::ConfigResult result = pgep::load_config(input);
  if (!result.ok()) {
    std::fprintf(stderr, "pgep: %s\n", result.describe("\npgep: ").c_str());
    std::fprintf(stderr, "pgep: not started: the configuration has %zu error(s)\n", result.errors.size());
    return 1;
  }
  const pgep::DaemonSettings& daemon = result.config.daemon;
  pgep::log_setup("pgep", daemon.log_level, daemon.log_format, daemon.log_output);
  std::string worker = worker_path();
  if (access(worker.c_str(), X_OK) != 0) {
    pgep::log_error("cannot run " + worker + ": " + std::strerror(errno) + " (pgep-worker must be beside pgep)");
    return 1;
  }
  for (const std::string& warning : pgep::unverified_peers(result.config, input)) pgep::log_warn(warning);
  bool refused = false;
  for (const std::string& problem : pgep::prepare_private_paths(daemon)) {
    pgep::log_error(problem);
    refused = true;
  }
  if (refused) return 1;
  signal(SIGPIPE, SIG_IGN);
  PidFile pid_file(daemon.pid_file);
  uv_loop_t loop;
  if (int error = uv_loop_init(&loop); error != 0) {
    pgep::log_error(std::string("cannot start the event loop: ") + uv_strerror(error));
    return 1;
  }
  int status = 0;
  {
    pgep::Supervisor supervisor(&loop, std::move(result.config), input, worker);
    status = supervisor.run();
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // let libuv finish closing what the supervisor owned
  uv_loop_close(&loop);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // A SIGHUP (an init script's reload) that comes before the supervisor watches it must not
  // kill pgep, as SIGHUP's default action would; the supervisor takes it over once it runs.
  signal(SIGHUP, SIG_IGN);
  bool check = false;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--check-config" || arg == "-t") {
      check = true;
    } else if (arg == "--version") {
      std::printf("pgep %s\n", PGEP_VERSION);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "pgep: unknown option %s\n", arg.c_str());
      usage(stderr);
      return 2;
    } else if (file.empty()) {
      file = arg;
    } else {
      std::fprintf(stderr, "pgep: more than one configuration file given (%s and %s)\n",
                   file.c_str(), arg.c_str());
      return 2;
    }
  }
  if (check) return pgep::check_config(file);
  return run(file);
}
