#include "supervisor/control.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

#include "shared/json_writer.h"
#include "shared/log.h"

namespace pgep {

namespace {
// A command is one short line: anything longer is not pgep-ctl talking.
constexpr size_t kMaxRequest = 4096;
}  // namespace

// One connection: reads a line, writes the answer, closes. Frees itself when libuv is done.
struct Control::Client {
  Control* control = nullptr;
  uv_pipe_t pipe{};
  uv_write_t write{};
  std::string request;
  std::string response;
  bool answered = false;

  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
  }
  void reply(std::string text) {
    answered = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe));
    response = std::move(text) + "\n";
    uv_buf_t buf = uv_buf_init(response.data(), static_cast<unsigned>(response.size()));
    if (uv_write(&write, reinterpret_cast<uv_stream_t*>(&pipe), &buf, 1,
                 [](uv_write_t* w, int) { static_cast<Client*>(w->handle->data)->close(); }) != 0) {
      close();
    }
  }
};

Control::Control(uv_loop_t* loop, std::string path, Handler& handler)
    : loop_(loop), path_(std::move(path)), handler_(handler) {}

Control::~Control() {
  server_.reset();
  if (bound_) unlink(path_.c_str());
}

std::string Control::start() {
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ignored);
  // A socket file left by a pgep that was killed is replaced; one a live pgep answers on is not.
  if (access(path_.c_str(), F_OK) == 0) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path_.copy(address.sun_path, sizeof address.sun_path - 1);
    bool alive = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (probe >= 0) ::close(probe);
    if (alive) return "another pgep is running with the control socket " + path_;
    unlink(path_.c_str());
  }
  server_ = UvHandle<uv_pipe_t>([&](uv_pipe_t* p) { return uv_pipe_init(loop_, p, 0); });
  server_.get()->data = this;
  mode_t old = umask(0177);  // created 0600: the socket can stop pgep
  int status = uv_pipe_bind(server_.get(), path_.c_str());
  umask(old);
  if (status == 0) {
    bound_ = true;
    status = uv_listen(reinterpret_cast<uv_stream_t*>(server_.get()), 16, [](uv_stream_t* s, int st) {
      if (st == 0 && s->data) static_cast<Control*>(s->data)->on_connection();
    });
  }
  if (status != 0) return "cannot listen on the control socket " + path_ + ": " + uv_strerror(status);
  chmod(path_.c_str(), 0600);
  return "";
}

void Control::on_connection() {
  auto* client = new Client;
  client->control = this;
  uv_pipe_init(loop_, &client->pipe, 0);
  client->pipe.data = client;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(server_.get()), reinterpret_cast<uv_stream_t*>(&client->pipe)) != 0) {
    return client->close();
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&client->pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(stream->data);
        if (n > 0) c->request.append(buf->base, static_cast<size_t>(n));
        delete[] buf->base;
        if (c->answered) return;
        size_t newline = c->request.find('\n');
        if (newline != std::string::npos) return c->reply(c->control->answer(c->request.substr(0, newline)));
        if (n < 0 || c->request.size() > kMaxRequest) {
          if (n < 0 && !c->request.empty()) return c->reply(c->control->answer(c->request));
          c->answered = true;
          c->close();
        }
      });
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
