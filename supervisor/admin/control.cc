#include "supervisor/admin/control.h"

#include <sys/stat.h>
#include <unistd.h>

#include "shared/json_writer.h"
#include "shared/log.h"
#include "shared/unix_socket.h"

namespace pgep {

namespace {
// A command is one short line: anything longer is not pgep-ctl talking.
constexpr size_t kMaxRequest = 4096;
}  // namespace

Control::Control(uv_loop_t* loop, std::string path, Handler& handler)
    : path_(std::move(path)),
      handler_(handler),
      server_(loop, "\n", kMaxRequest, [this](const std::string& line) { return answer(line) + "\n"; }) {}

Control::~Control() {
  if (bound_) unlink(path_.c_str());
}

std::string Control::start() {
  // Its directory was made private at start (private_paths.h). A socket file left by a pgep that
  // was killed is replaced; one a live pgep answers on is not, nor anything else.
  struct stat st{};
  if (lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return "control socket: " + path_ + " exists and is not a socket; pgep will not replace it";
    std::string ignored_error;
    if (UnixSocket::connect(path_, ignored_error).is_open()) return "another pgep is running with the control socket " + path_;
    unlink(path_.c_str());
  }
  std::string problem = server_.listen_unix(path_);
  bound_ = problem.empty();
  return problem.empty() ? "" : "control socket: " + problem;
}

std::string Control::answer(const std::string& line) {
  std::string command = line;
  std::string argument;
  size_t space = line.find(' ');
  if (space != std::string::npos) {
    command = line.substr(0, space);
    argument = line.substr(space + 1);
  }
  if (command == "status") return handler_.control_status();
  if (command == "stop") return handler_.control_stop();
  if (command == "reload") return handler_.control_reload();
  if (command == "restart" && !argument.empty()) return handler_.control_restart(argument);
  return JsonObject().add("ok", false).add("error", "unknown command \"" + line + "\"; expected status, stop, reload or restart BRIDGE").str();
}

}  // namespace pgep
