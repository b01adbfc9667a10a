// HTTP on the worker's own libuv loop: libcurl's multi interface driven by libuv (its sockets
// watched by uv_poll handles, its timeouts by one uv_timer), so requests run side by side with
// no thread and no blocking call. libcurl keeps connections alive and reuses them, and speaks
// HTTP/2 where a TLS server offers it. TLS is verified by default: tls_ca_file, or the system's
// CA store.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shared/uv_handle.h"

namespace pgep {

struct HttpOptions {
  uint64_t timeout_ms = 30000;  // one request, connecting included
  std::string tls_ca_file;      // empty: the system's CA store
  std::string tls_cert_file;    // a client certificate (PEM), or empty
  std::string tls_key_file;     // its key (PEM), or empty: in tls_cert_file
  bool tls_verify = true;
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
};

struct HttpResponse {
  long status = 0;  // 0: no answer (refused, reset, timed out); `error` says why
  std::string error;
  std::string body;  // the answer's first MiB
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, values trimmed

  // The value of the header `lower_case_name`, or "".
  std::string header(std::string_view lower_case_name) const;
  // Retry-After (seconds, or an HTTP date) in milliseconds from now, at most an hour (a typo
  // must not stop a bridge for a day); 0 without one.
  uint64_t retry_after_ms() const;
};

class HttpClient {
 public:
  using Done = std::function<void(const HttpResponse&)>;

  HttpClient(uv_loop_t* loop, HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a POST; `done` is called from the loop once it is answered or failed, never from
  // inside post().
  void post(HttpRequest request, Done done);
  // Drops every request in flight; their `done` is not called.
  void cancel_all();
  size_t in_flight() const { return transfers_.size(); }

 private:
  struct Transfer;
  struct Socket;
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void on_poll(Socket* socket, int status, int events);
  void drive(curl_socket_t fd, int flags);
  void finish_done();

  uv_loop_t* loop_;
  HttpOptions options_;
  CURLM* multi_;
  UvHandle<uv_timer_t> timer_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
};

}  // namespace pgep
