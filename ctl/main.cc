// pgep-ctl: talks to a running pgep over its control socket.
//
//   pgep-ctl [-s SOCKET | -c CONFIG] status [--json] | stop | reload | restart BRIDGE
//
// The socket is -s, else $PGEP_CONTROL_SOCKET, else [pgep] control_socket of CONFIG and the
// environment (the same default pgep uses). Exit status: 0 done, 1 pgep refused the command,
// 2 wrong usage, 3 pgep is not running (as an LSB init script's status expects).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shared/config.h"
#include "shared/unix_socket.h"
#include "ctl/status_format.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotRunning = 3;

// To stdout for --help (asked for), to stderr for a wrong command line.
int usage(FILE* out = stderr) {
  std::fprintf(out,
               "usage: pgep-ctl [-s SOCKET | -c CONFIG] status [--json]\n"
               "       pgep-ctl [-s SOCKET | -c CONFIG] stop | reload | restart BRIDGE\n"
               "       pgep-ctl --version | --help\n"
               "See pgep-ctl(8).\n");
  return kExitUsage;
}

std::string socket_path(const std::string& explicit_path, const std::string& config_file) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* env = std::getenv("PGEP_CONTROL_SOCKET"); env && *env) return env;
  return pgep::load_config(pgep::ConfigInput::from_process(config_file)).config.daemon.control_socket;
}

// Sends one command line and reads the answer; false with `error` when pgep could not be asked.
bool ask(const std::string& path, const std::string& command, std::string& answer, std::string& error) {
  pgep::UnixSocket socket = pgep::UnixSocket::connect(path, error);
  if (!socket.is_open()) {
    error = "pgep is not running (nothing answers on " + path + ": " + error + ")";
    return false;
  }
  if (!socket.write_all(command + "\n")) {
    error = std::string("cannot send to pgep: ") + std::strerror(errno);
    return false;
  }
  if (!socket.read_all(answer) && answer.empty()) {
    error = std::string("cannot read pgep's answer: ") + std::strerror(errno);
    return false;
  }
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
      usage(stdout);
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
