// The optional HTTP listener (metrics_listen): GET /metrics in Prometheus' text format and
// GET /healthz (200 when ready, 503 otherwise). Plain HTTP/1.0-style: one request, one answer,
// the connection closed.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "supervisor/admin/request_server.h"

namespace pgep {

class Metrics {
 public:
  // `render` gives the Prometheus text; `health` the health: "ready", "standby" (healthy, not
  // forwarding: another pgep holds the lock), or "" (not ready).
  Metrics(uv_loop_t* loop, std::function<std::string()> render, std::function<std::string()> health);
  std::string start(const std::string& host_port);

 private:
  std::string answer(const std::string& request);

  std::function<std::string()> render_;
  std::function<std::string()> health_;
  RequestServer server_;
};

}  // namespace pgep
