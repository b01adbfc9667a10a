#include "supervisor/admin/metrics.h"

namespace pgep {

namespace {

constexpr size_t kMaxRequest = 8192;

std::string http(const char* status, const char* type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

Metrics::Metrics(uv_loop_t* loop, std::function<std::string()> render, std::function<std::string()> health)
    : render_(std::move(render)),
      health_(std::move(health)),
      server_(loop, "\r\n\r\n", kMaxRequest, [this](const std::string& request) { return answer(request); }) {}

std::string Metrics::start(const std::string& host_port) {
  std::string problem = server_.listen_tcp(host_port);
  return problem.empty() ? "" : "metrics_listen: " + problem;
}

std::string Metrics::answer(const std::string& request) {
  std::string line = request.substr(0, request.find("\r\n"));
  size_t first = line.find(' ');
  size_t second = line.find(' ', first + 1);
  std::string method = line.substr(0, first);
  std::string path = first == std::string::npos ? "" : line.substr(first + 1, second - first - 1);
  if (method != "GET") return http("405 Method Not Allowed", "text/plain", "only GET\n");
  if (path == "/metrics") return http("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_());
  if (path == "/healthz") {
    std::string health = health_();
    return health.empty() ? http("503 Service Unavailable", "text/plain", "not ready\n")
                          : http("200 OK", "text/plain", health + "\n");
  }
  return http("404 Not Found", "text/plain", "try /metrics or /healthz\n");
}

}  // namespace pgep
