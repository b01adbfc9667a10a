// A listening socket that serves one request per connection: read until a terminator (a new
// line for the control socket, an empty line for HTTP), answer, close. Used by the control
// socket (UNIX) and the metrics listener (TCP). Requests are bounded in size, connections in
// number (kMaxClients) and in time (kClientDeadlineMs), so idle clients cannot exhaust it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "shared/uv_handle.h"

namespace pgep {

class RequestServer {
 public:
  using Answer = std::function<std::string(const std::string& request)>;

  static constexpr size_t kMaxClients = 32;
  static constexpr uint64_t kClientDeadlineMs = 5000;

  RequestServer(uv_loop_t* loop, std::string terminator, size_t max_request, Answer answer)
      : loop_(loop), terminator_(std::move(terminator)), max_request_(max_request), answer_(std::move(answer)) {}
  ~RequestServer();
  RequestServer(const RequestServer&) = delete;
  RequestServer& operator=(const RequestServer&) = delete;

  // Listens on a UNIX socket at `path`, created with mode 0600. Returns "" or the problem.
  std::string listen_unix(const std::string& path);
  // Listens on TCP `host:port`, host a numeric IPv4 or IPv6 address, or on 127.0.0.1 when given
  // a port alone. Returns "" or the problem.
  std::string listen_tcp(const std::string& host_port);

 private:
  struct Client;
  std::string listen(uv_stream_t* server);
  void on_connection(uv_stream_t* server);

  uv_loop_t* loop_;
  std::string terminator_;
  size_t max_request_;
  Answer answer_;
  std::set<Client*> clients_;  // open connections
  UvHandle<uv_pipe_t> pipe_;
  UvHandle<uv_tcp_t> tcp_;
};

}  // namespace pgep
