// pgep-ctl: talks to a running pgep over its control socket.
//
//   pgep-ctl [-s SOCKET | -c CONFIG] status [--json] | stop | reload | restart BRIDGE
//
// The socket is -s, else $PGEP_CONTROL_SOCKET, else [pgep] control_socket of CONFIG and the
// environment (the same default pgep uses). Exit status: 0 done, 1 pgep refused the command,
// 2 wrong usage, 3 pgep is not running (as an LSB init script's status expects).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shared/config.h"
#include "supervisor/ctl_status.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotRunning = 3;

int usage() {
  std::fprintf(stderr,
               "usage: pgep-ctl [-s SOCKET | -c CONFIG] status [--json]\n"
               "       pgep-ctl [-s SOCKET | -c CONFIG] stop | reload | restart BRIDGE\n");
  return kExitUsage;
}

std::string socket_path(const std::string& explicit_path, const std::string& config_file) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* env = std::getenv("PGEP_CONTROL_SOCKET"); env && *env) return env;
  pgep::ConfigInput input{config_file, pgep::process_environment(), static_cast<unsigned>(getuid())};
  return pgep::load_config(input).config.daemon.control_socket;
}

// Sends one command line; returns the answer, or sets `not_running`.
bool ask(const std::string& path, const std::string& command, std::string& answer, std::string& error) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    error = "the socket path is too long: " + path;
    return false;
  }
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error = "pgep is not running (nothing answers on " + path + ": " + std::strerror(errno) + ")";
    if (fd >= 0) close(fd);
    return false;
  }
  std::string line = command + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    error = std::string("cannot send to pgep: ") + std::strerror(errno);
    close(fd);
    return false;
  }
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) answer.append(buffer, static_cast<size_t>(n));
  close(fd);
  if (answer.empty()) {
    error = "pgep closed the control connection without an answer";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string explicit_path, config_file;
  std::vector<std::string> words;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("pgep-ctl %s\n", PGEP_VERSION);
      return 0;
    } else if ((arg == "-s" || arg == "-c") && i + 1 < argc) {
      (arg == "-s" ? explicit_path : config_file) = argv[++i];
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else {
      words.push_back(arg);
    }
  }
  if (words.empty()) return usage();
  const std::string& command = words[0];
  bool known = (command == "status" || command == "stop" || command == "reload") ? words.size() == 1
               : command == "restart"                                               ? words.size() == 2
                                                                                    : false;
  if (!known) return usage();
  std::string line = command + (command == "restart" ? " " + words[1] : "");
  std::string answer, error;
  if (!ask(socket_path(explicit_path, config_file), line, answer, error)) {
    std::fprintf(stderr, "pgep-ctl: %s\n", error.c_str());
    return kExitNotRunning;
  }
  pgep::CtlAnswer parsed = pgep::parse_ctl_answer(answer);
  if (json) {
    std::fputs(answer.c_str(), stdout);
  } else if (parsed.ok) {
    std::fputs((command == "status" ? pgep::format_status(answer) : parsed.message + "\n").c_str(), stdout);
  }
  if (!parsed.ok) {
    std::fprintf(stderr, "pgep-ctl: %s\n", parsed.error.c_str());
    return kExitRefused;
  }
  return 0;
}
