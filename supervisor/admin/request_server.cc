#include "supervisor/admin/request_server.h"

#include <netinet/in.h>
#include <sys/stat.h>

#include <memory>
#include <set>

namespace pgep {

// One connection: reads a request, writes the answer, closes. A connection that has not sent
// its request and taken its answer within kClientDeadlineMs is closed. Frees itself when libuv
// is done with both of its handles.
struct RequestServer::Client {
  RequestServer* server = nullptr;  // null once the server is gone
  bool tcp = false;
  union {
    uv_pipe_t pipe;
    uv_tcp_t tcp_handle;
  } handle{};
  uv_timer_t deadline{};
  uv_write_t write{};
  std::string request;
  std::string response;
  bool answered = false;
  bool closing = false;
  int open_handles = 0;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle); }
  void close() {
    if (closing) return;
    closing = true;
    if (server) server->clients_.erase(this);
    auto closed = [](uv_handle_t* h) {
      auto* c = static_cast<Client*>(h->data);
      if (--c->open_handles == 0) delete c;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&handle), closed);
    if (open_handles == 2) uv_close(reinterpret_cast<uv_handle_t*>(&deadline), closed);
  }
  void reply(std::string text) {
    answered = true;
    uv_read_stop(stream());
    response = std::move(text);
    uv_buf_t buf = uv_buf_init(response.data(), static_cast<unsigned>(response.size()));
    if (uv_write(&write, stream(), &buf, 1, [](uv_write_t* w, int) { static_cast<Client*>(w->handle->data)->close(); }) != 0) {
      close();
    }
  }
};

RequestServer::~RequestServer() {
  // Connections still open are closed; their callbacks must not reach this object.
  std::set<Client*> clients;
  clients.swap(clients_);
  for (Client* client : clients) {
    client->server = nullptr;
    client->close();
  }
}

std::string RequestServer::listen_unix(const std::string& path) {
  pipe_ = UvHandle<uv_pipe_t>([&](uv_pipe_t* p) { return uv_pipe_init(loop_, p, 0); });
  pipe_.get()->data = this;
  mode_t old = umask(0177);  // created 0600
  int status = uv_pipe_bind(pipe_.get(), path.c_str());
  umask(old);
  if (status != 0) return "cannot listen on " + path + ": " + uv_strerror(status);
  chmod(path.c_str(), 0600);
  return listen(reinterpret_cast<uv_stream_t*>(pipe_.get()));
}

std::string RequestServer::listen_tcp(const std::string& given) {
  // A port alone is on loopback: exposing metrics to the network is a choice made by address.
  std::string host_port = given.find(':') == std::string::npos ? "127.0.0.1:" + given : given;
  size_t colon = host_port.rfind(':');
  std::string host = host_port.substr(0, colon);
  int port = std::atoi(host_port.c_str() + colon + 1);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage address{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&address)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address)) != 0) {
    return "cannot listen on " + host_port + ": expected a numeric IPv4 or IPv6 address";
  }
  tcp_ = UvHandle<uv_tcp_t>([&](uv_tcp_t* t) { return uv_tcp_init(loop_, t); });
  tcp_.get()->data = this;
  int status = uv_tcp_bind(tcp_.get(), reinterpret_cast<sockaddr*>(&address), 0);
  if (status != 0) return "cannot listen on " + host_port + ": " + uv_strerror(status);
  return listen(reinterpret_cast<uv_stream_t*>(tcp_.get()));
}

std::string RequestServer::listen(uv_stream_t* server) {
  int status = uv_listen(server, 64, [](uv_stream_t* s, int st) {
    if (st == 0 && s->data) static_cast<RequestServer*>(s->data)->on_connection(s);
  });
  return status == 0 ? "" : std::string("cannot listen: ") + uv_strerror(status);
}

void RequestServer::on_connection(uv_stream_t* server) {
  auto* client = new Client;
  client->server = this;
  client->tcp = server->type == UV_TCP;
  int status = client->tcp ? uv_tcp_init(loop_, &client->handle.tcp_handle) : uv_pipe_init(loop_, &client->handle.pipe, 0);
  if (status != 0) {
    delete client;  // never initialised: nothing for libuv to close
    return;
  }
  client->handle.pipe.data = client;
  client->open_handles = 1;
  if (uv_timer_init(loop_, &client->deadline) == 0) {
    client->deadline.data = client;
    client->open_handles = 2;
  }
  clients_.insert(client);
  // Accepted either way, so the backlog drains; one over the cap is closed at once.
  if (uv_accept(server, client->stream()) != 0 || clients_.size() > kMaxClients || client->open_handles < 2) {
    return client->close();
  }
  uv_timer_start(&client->deadline, [](uv_timer_t* t) { static_cast<Client*>(t->data)->close(); },
                 kClientDeadlineMs, 0);
  status = uv_read_start(
      client->stream(),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        std::unique_ptr<char[]> owned(buf->base);
        auto* c = static_cast<Client*>(stream->data);
        if (c->answered || !c->server) return;
        if (n > 0) c->request.append(buf->base, static_cast<size_t>(n));
        RequestServer* self = c->server;
        size_t end = c->request.find(self->terminator_);
        if (end != std::string::npos) return c->reply(self->answer_(c->request.substr(0, end)));
        if (n < 0 || c->request.size() > self->max_request_) {
          c->answered = true;
          c->close();
        }
      });
  if (status != 0) client->close();
}

}  // namespace pgep
