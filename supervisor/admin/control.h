// The control socket pgep-ctl talks to (what admin.c is to PgBouncer): a UNIX socket, mode
// 0600, one command line per connection ("status", "stop", "reload", "restart BRIDGE"), one
// JSON answer {"ok": true|false, ...}, then the connection is closed.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "supervisor/admin/request_server.h"

namespace pgep {

class Control {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // Each returns the JSON answer.
    virtual std::string control_status() = 0;
    virtual std::string control_stop() = 0;
    virtual std::string control_restart(const std::string& bridge) = 0;
    virtual std::string control_reload() = 0;
  };

  Control(uv_loop_t* loop, std::string path, Handler& handler);
  ~Control();
  // Binds and listens; returns "" or what went wrong.
  std::string start();

 private:
  std::string answer(const std::string& line);

  std::string path_;
  Handler& handler_;
  RequestServer server_;
  bool bound_ = false;
};

}  // namespace pgep
