#include "workers/http_client.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <utility>

namespace pgep {

namespace {

constexpr long kConnectTimeoutMs = 10000;
// HTTP/1.1 allows one request at a time per connection: this many connections to one host at
// most, and the window's other requests wait in libcurl for one to be free.
constexpr long kMaxHostConnections = 16;
// What is kept of an answer's body: AWS's batch answers are a few KiB; a webhook's is not read.
constexpr size_t kMaxAnswerBytes = 1 << 20;

// libcurl is set up once per process (the worker is single-threaded).
void init_library() {
  static bool done = false;
  if (done) return;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  done = true;
}

}  // namespace

// One request: the easy handle and what it points to, alive until it is done or dropped.
struct HttpClient::Transfer {
  ~Transfer() {
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  HttpResponse response;
  Done done;
};

std::string HttpResponse::header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return "";
}

uint64_t HttpResponse::retry_after_ms() const {
  constexpr uint64_t kMaxMs = 3600 * 1000;
  std::string value = header("retry-after");
  if (value.empty()) return 0;
  uint64_t ms = 0;
  if (value.find_first_not_of("0123456789") == std::string::npos) {
    ms = value.size() > 7 ? kMaxMs : std::stoull(value) * 1000;
  } else if (time_t when = curl_getdate(value.c_str(), nullptr); when > 0) {
    time_t now = std::time(nullptr);
    ms = when > now ? static_cast<uint64_t>(when - now) * 1000 : 0;
  }
  return std::min(ms, kMaxMs);
}

// One socket libcurl asked to watch.
struct HttpClient::Socket {
  HttpClient* client;
  curl_socket_t fd;
  uv_poll_t poll;
};

HttpClient::HttpClient(uv_loop_t* loop, HttpOptions options)
    : loop_(loop), options_(std::move(options)), multi_(nullptr) {
  init_library();
  timer_ = UvHandle<uv_timer_t>([loop](uv_timer_t* t) { return uv_timer_init(loop, t); });
  timer_.get()->data = this;
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, kMaxHostConnections);
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
}

HttpClient::~HttpClient() {
  cancel_all();
  curl_multi_cleanup(multi_);  // closes the connections it kept; their sockets' callbacks come now
}

void HttpClient::post(HttpRequest request, Done done) {
  auto transfer = std::make_unique<Transfer>();
  transfer->easy = curl_easy_init();
  transfer->body = std::move(request.body);
  transfer->done = std::move(done);
  for (const std::string& header : request.headers) {
    transfer->headers = curl_slist_append(transfer->headers, header.c_str());
  }
  // No "Expect: 100-continue" round trip before a large body.
  transfer->headers = curl_slist_append(transfer->headers, "Expect:");
  CURL* easy = transfer->easy;
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer->body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(transfer->body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  if (!options_.tls_ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.tls_ca_file.c_str());
  if (!options_.tls_cert_file.empty()) curl_easy_setopt(easy, CURLOPT_SSLCERT, options_.tls_cert_file.c_str());
  if (!options_.tls_key_file.empty()) curl_easy_setopt(easy, CURLOPT_SSLKEY, options_.tls_key_file.c_str());
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* to) {
    std::string& body = static_cast<Transfer*>(to)->response.body;
    body.append(data, std::min(size * count, kMaxAnswerBytes - std::min(body.size(), kMaxAnswerBytes)));
    return size * count;
  });
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, +[](char* line, size_t size, size_t count, void* to) {
    std::string_view text(line, size * count);
    size_t colon = text.find(':');
    auto& headers = static_cast<Transfer*>(to)->response.headers;
    if (colon == std::string_view::npos) {
      if (text.rfind("HTTP/", 0) == 0) headers.clear();  // a new answer (after a 100 Continue)
      return size * count;
    }
    std::string name(text.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = text.substr(colon + 1);
    size_t first = value.find_first_not_of(" \t");
    size_t last = value.find_last_not_of(" \t\r\n");
    headers.emplace_back(std::move(name), first == std::string_view::npos ? "" : std::string(value.substr(first, last - first + 1)));
    return size * count;
  });
  transfers_.emplace(easy, std::move(transfer));
  curl_multi_add_handle(multi_, easy);  // libcurl starts it from its timer, at the next turn
}

void HttpClient::cancel_all() {
  for (auto& [easy, transfer] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
}

int HttpClient::on_socket(CURL*, curl_socket_t fd, int what, void* self_pointer, void* socket_pointer) {
  auto* self = static_cast<HttpClient*>(self_pointer);
  auto* socket = static_cast<Socket*>(socket_pointer);
  if (what == CURL_POLL_REMOVE) {
    if (socket) {
      curl_multi_assign(self->multi_, fd, nullptr);
      // libuv lets go of the fd now; the memory goes once the handle is closed.
      uv_close(reinterpret_cast<uv_handle_t*>(&socket->poll),
               [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    }
    return 0;
  }
  if (!socket) {
    socket = new Socket{self, fd, {}};
    if (uv_poll_init_socket(self->loop_, &socket->poll, fd) != 0) {
      delete socket;
      return -1;
    }
    socket->poll.data = socket;
    curl_multi_assign(self->multi_, fd, socket);
  }
  int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&socket->poll, events, [](uv_poll_t* poll, int status, int ready) {
    auto* s = static_cast<Socket*>(poll->data);
    s->client->on_poll(s, status, ready);
  });
  return 0;
}

int HttpClient::on_timer(CURLM*, long timeout_ms, void* self_pointer) {
  auto* self = static_cast<HttpClient*>(self_pointer);
  if (timeout_ms < 0) {
    uv_timer_stop(self->timer_.get());
    return 0;
  }
  // Even at 0, from the loop: libcurl must not be called back from inside its own callback.
  uv_timer_start(self->timer_.get(), [](uv_timer_t* t) {
    if (auto* client = static_cast<HttpClient*>(t->data)) client->drive(CURL_SOCKET_TIMEOUT, 0);
  }, static_cast<uint64_t>(timeout_ms), 0);
  return 0;
}

void HttpClient::on_poll(Socket* socket, int status, int events) {
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  drive(socket->fd, flags);
}

void HttpClient::drive(curl_socket_t fd, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  finish_done();
}

// Hands each finished request's outcome to its caller, once libcurl is out of the way.
void HttpClient::finish_done() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    CURLcode result = message->data.result;
    auto found = transfers_.find(easy);
    if (found == transfers_.end()) continue;
    std::unique_ptr<Transfer> transfer = std::move(found->second);
    transfers_.erase(found);
    curl_multi_remove_handle(multi_, easy);
    HttpResponse response = std::move(transfer->response);
    if (result == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
    } else {
      response = HttpResponse{};
      response.error = transfer->error[0] ? transfer->error : curl_easy_strerror(result);
    }
    Done done = std::move(transfer->done);
    transfer.reset();
    done(response);  // may post again, or drop everything (cancel_all)
  }
}

}  // namespace pgep
