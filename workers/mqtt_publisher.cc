#include "workers/mqtt_publisher.h"

#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "workers/tls_context.h"

namespace pgep {

namespace {

constexpr uint64_t kConnectTimeoutMs = 10000;
constexpr uint64_t kTickMs = 1000;  // keepalive pings and the connect deadline are checked this often

// libmosquitto sets up OpenSSL and its random source once per process; the worker is single-threaded.
void init_library() {
  static bool done = false;
  if (done) return;
  mosquitto_lib_init();
  done = true;
}

// libmosquitto's error code in words; errno and getaddrinfo's code where it reports those.
std::string describe(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  if (rc == MOSQ_ERR_EAI) return std::string("cannot resolve the host: ") + gai_strerror(errno);
  return mosquitto_strerror(rc);
}

// The error a socket holds after a failed connect or a reset, or 0.
int socket_error(int fd) {
  int error = 0;
  socklen_t size = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno;
  return error;
}

}  // namespace

MqttPublisher::MqttPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : loop_(loop), listener_(listener), options_(MqttOptions::from(settings)), flush_(loop, [this] { flush(); }) {
  init_library();
  tick_ = UvHandle<uv_timer_t>([&](uv_timer_t* t) { return uv_timer_init(loop, t); });
  tick_.get()->data = this;
}

MqttPublisher::~MqttPublisher() { drop_client(); }

void MqttPublisher::connect() {
  drop_client();
  client_.reset(mosquitto_new(options_.client_id.c_str(), true, this));
  if (!client_) return fail("cannot create an MQTT client: " + describe(MOSQ_ERR_ERRNO));
  std::string error;
  if (!configure_client(error)) return fail(error);
  connect_started_ms_ = uv_now(loop_);
  uv_timer_start(
      tick_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<MqttPublisher*>(t->data)) self->on_tick();
      },
      kTickMs, kTickMs);
  // Resolves the host here (getaddrinfo blocks the worker for that long), then connects without
  // waiting; CONNECT goes out when the socket is writable.
  int rc = mosquitto_connect_async(client_.get(), options_.host.c_str(), options_.port, options_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS) return fail("connect failed: " + describe(rc) + last_error_suffix());
  int fd = mosquitto_socket(client_.get());
  poll_ = UvHandle<uv_poll_t>([&](uv_poll_t* p) { return uv_poll_init_socket(loop_, p, fd); });
  poll_.get()->data = this;
  poll_events_ = 0;
  watch();
}

bool MqttPublisher::configure_client(std::string& error) {
  mosquitto* c = client_.get();
  // "Threaded": libmosquitto then never writes inside mosquitto_publish; flush() writes what a
  // loop turn published in one pass.
  mosquitto_threaded_set(c, true);
  mosquitto_int_option(c, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(c, MOSQ_OPT_SEND_MAXIMUM, options_.window);
  mosquitto_int_option(c, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_callback_set(c, on_connack);
  mosquitto_publish_callback_set(c, on_publish);
  mosquitto_log_callback_set(c, on_log);
  if (!options_.username.empty() || !options_.password.empty()) {
    int rc = mosquitto_username_pw_set(c, options_.username.c_str(),
                                       options_.password.empty() ? nullptr : options_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      error = "cannot use the user name and password: " + describe(rc);
      return false;
    }
  }
  if (!options_.tls) return true;
  SslCtxPtr context = make_client_tls_context(
      {options_.host, options_.tls_ca_file, options_.tls_cert_file, options_.tls_key_file, options_.tls_verify}, error);
  if (!context) return false;
  // Ours as is: libmosquitto's defaults would insist on a CA file.
  mosquitto_int_option(c, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
  int rc = mosquitto_void_option(c, MOSQ_OPT_SSL_CTX, context.get());  // takes its own reference
  if (rc != MOSQ_ERR_SUCCESS) {
    error = "cannot use TLS: " + describe(rc);
    return false;
  }
  return true;
}

void MqttPublisher::publish(const ipc::Publish& message) {
  if (!client_ || !connected_) return;
  if (std::optional<std::string> problem = mqtt_topic_problem(message.routing_key)) {
    return listener_.on_unroutable(message.seq, *problem);
  }
  int mid = 0;
  int rc = mosquitto_publish(client_.get(), &mid, message.routing_key.c_str(), static_cast<int>(message.body.size()),
                             message.body.data(), options_.qos, false);
  switch (rc) {
    case MOSQ_ERR_SUCCESS:
      seq_by_mid_[mid] = message.seq;
      break;
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_INVAL:
      return listener_.on_unroutable(message.seq, std::string("libmosquitto cannot publish it: ") + describe(rc));
    default:
      // Reported at the next loop turn: the worker is inside its pump now.
      if (deferred_failure_.empty()) deferred_failure_ = std::string("publish failed: ") + describe(rc);
      break;
  }
  flush_.request();
}

void MqttPublisher::disconnect() { drop_client(); }

void MqttPublisher::on_connack(mosquitto*, void* self, int code) {
  static_cast<MqttPublisher*>(self)->reports_.connack = code;
}

void MqttPublisher::on_publish(mosquitto*, void* self, int mid) {
  static_cast<MqttPublisher*>(self)->reports_.completed_mids.push_back(mid);
}

void MqttPublisher::on_log(mosquitto*, void* self, int level, const char* text) {
  if (level == MOSQ_LOG_ERR && text) static_cast<MqttPublisher*>(self)->reports_.last_error = text;
}

void MqttPublisher::on_socket(int status, int events) {
  if (!client_) return;
  if (status < 0) {
    poll_events_ = 0;  // libuv stopped the handle
    if (int error = socket_error(mosquitto_socket(client_.get()))) {
      return fail((connected_ ? "connection lost: " : "connect failed: ") + std::string(std::strerror(error)) +
                  last_error_suffix());
    }
    events = UV_READABLE;  // let libmosquitto read what happened
  }
  // While connecting, a TLS handshake moves on in mosquitto_loop_read whichever way the socket is ready.
  if ((events & (UV_READABLE | UV_DISCONNECT)) || !connected_) {
    if (!handle(mosquitto_loop_read(client_.get(), 1))) return;
  }
  if (!connected_ && (events & UV_DISCONNECT) && reports_.connack < 0) {
    return fail("connect failed: the broker closed the connection before it answered" + last_error_suffix());
  }
  flush();
}

void MqttPublisher::on_tick() {
  if (!client_) return;
  if (!connected_) {
    if (uv_now(loop_) - connect_started_ms_ >= kConnectTimeoutMs) {
      fail("connect failed: no answer from the broker within 10 s" + last_error_suffix());
    }
    return;
  }
  // Sends PINGREQ when nothing went out for keepalive seconds; gives up when its answer is late.
  if (!handle(mosquitto_loop_misc(client_.get()))) return;
  flush();
}

void MqttPublisher::flush() {
  flush_.cancel();
  if (!client_) return;
  if (!deferred_failure_.empty()) return fail(std::exchange(deferred_failure_, {}));
  if (mosquitto_want_write(client_.get()) && !handshaking()) {
    if (!handle(mosquitto_loop_write(client_.get(), 1))) return;
  }
  deliver_reports();
  if (client_) watch();
}

// Readable always (acknowledgements, a close); writable while something waits to go out.
void MqttPublisher::watch() {
  bool want_write = handshaking() ? SSL_want_write(static_cast<SSL*>(mosquitto_ssl_get(client_.get())))
                                  : mosquitto_want_write(client_.get());
  int events = UV_READABLE | UV_DISCONNECT | (want_write ? UV_WRITABLE : 0);
  if (events == poll_events_) return;  // each uv_poll_start costs an epoll_ctl
  poll_events_ = events;
  uv_poll_start(poll_.get(), events, [](uv_poll_t* p, int status, int ready) {
    if (auto* self = static_cast<MqttPublisher*>(p->data)) self->on_socket(status, ready);
  });
}

bool MqttPublisher::handshaking() const {
  auto* ssl = static_cast<SSL*>(mosquitto_ssl_get(client_.get()));
  return ssl && !SSL_is_init_finished(ssl);
}

bool MqttPublisher::handle(int rc) {
  if (rc == MOSQ_ERR_SUCCESS) return true;
  if (reports_.connack > 0) {
    fail("connect failed: " + connack_reason(reports_.connack));
  } else {
    fail((connected_ ? "connection lost: " : "connect failed: ") + describe(rc) + last_error_suffix());
  }
  return false;
}

std::string MqttPublisher::last_error_suffix() const {
  return reports_.last_error.empty() ? "" : " (" + reports_.last_error + ")";
}

// What libmosquitto reported during its last call, told to the listener now that it returned.
void MqttPublisher::deliver_reports() {
  if (!connected_ && reports_.connack == 0) {
    connected_ = true;
    // libmosquitto formats a debug line for every packet when a log callback is set; the errors
    // worth keeping (TLS) come while connecting.
    mosquitto_log_callback_set(client_.get(), nullptr);
    listener_.on_broker_connected();
    if (!client_) return;
  }
  std::vector<int>& mids = reports_.completed_mids;
  for (size_t i = 0; i < mids.size() && client_; ++i) {
    auto it = seq_by_mid_.find(mids[i]);
    if (it == seq_by_mid_.end()) continue;
    uint64_t seq = it->second;
    seq_by_mid_.erase(it);
    listener_.on_confirmed(seq);
  }
  mids.clear();
}

void MqttPublisher::drop_client() {
  // The poll handle goes first: libuv must stop watching the socket before libmosquitto closes it.
  poll_.reset();
  poll_events_ = 0;
  if (tick_) uv_timer_stop(tick_.get());
  client_.reset();
  connected_ = false;
  reports_ = Reports{};
  seq_by_mid_.clear();
  deferred_failure_.clear();
}

void MqttPublisher::fail(const std::string& reason) {
  drop_client();
  listener_.on_broker_lost(reason);
}

}  // namespace pgep
