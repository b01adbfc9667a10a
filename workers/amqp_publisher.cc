#include "workers/amqp_publisher.h"

#include <amqp_ssl_socket.h>
#include <openssl/ssl.h>
#include <amqp_tcp_socket.h>
#include <sys/socket.h>

#include <stdexcept>
#include <vector>

#include "shared/config_options.h"
#include "shared/log.h"
#include "shared/uri.h"

namespace pgep {

namespace {

constexpr int kChannel = 1;
constexpr int kFrameMax = 131072;
constexpr long kTimeoutSeconds = 10;
constexpr size_t kMaxShortString = 255;  // AMQP routing keys are short strings
constexpr uint16_t kConnectionForced = 320;

std::string bytes_text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

amqp_bytes_t as_bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

// What an RPC reply says went wrong, or "" when it went right.
std::string reply_error(const amqp_rpc_reply_t& reply, const char* doing) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "";
    case AMQP_RESPONSE_NONE:
      return std::string(doing) + ": no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return std::string(doing) + ": " + amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return std::string(doing) + ": " + bytes_text(m->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return std::string(doing) + ": " + bytes_text(m->reply_text);
      }
      return std::string(doing) + ": the broker closed the connection";
  }
  return std::string(doing) + ": failed";
}

}  // namespace

AmqpPublisher::AmqpPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : loop_(loop), listener_(listener) {
  std::string error;
  std::optional<Uri> uri = parse_uri(settings.text("uri"), error);
  if (!uri) throw std::runtime_error("amqp uri: " + error);
  tls_ = scheme_uses_tls(uri->scheme);
  host_ = uri->host;
  port_ = uri->port.value_or(default_port(UpstreamKind::Amqp, uri->scheme));
  if (uri->user) user_ = *uri->user;
  if (uri->password) password_ = *uri->password;
  // amqp://host//, amqp://host/ and amqp://host are all the vhost "/".
  if (uri->path && !uri->path->empty()) vhost_ = *uri->path;
  target_ = settings.text(kSettingTarget);
  target_is_queue_ = settings.text(kSettingTargetKind) == "queue";
  exchange_ = target_is_queue_ ? "" : target_;
  declare_ = settings.flag("declare");
  persistent_ = settings.text("delivery_mode") == "2";
  drop_unroutable_ = settings.text("unroutable") == "drop";
  content_type_ = settings.text("content_type");
  heartbeat_s_ = static_cast<int>(settings.duration_ms("heartbeat") / 1000);
  tls_ca_file_ = settings.text("tls_ca_file");
  tls_cert_file_ = settings.text("tls_cert_file");
  tls_key_file_ = settings.text("tls_key_file");
  tls_verify_ = settings.flag("tls_verify");
}

AmqpPublisher::~AmqpPublisher() { close_connection(); }

void AmqpPublisher::connect() {
  close_connection();
  std::string problem = open_connection();
  if (!problem.empty()) return lost(problem);
  int fd = amqp_get_sockfd(connection_);
  // rabbitmq-c writes with blocking sends and no deadline: a broker that stops reading (a
  // frozen peer; connection.blocked arrives only after the alarm) would hold the worker's loop
  // for ever. A send that waits this long fails, and the connection is given up.
  timeval send_deadline{kTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_deadline, sizeof send_deadline);
  poll_ = UvHandle<uv_poll_t>([&](uv_poll_t* p) { return uv_poll_init(loop_, p, fd); });
  poll_.get()->data = this;
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* self = static_cast<AmqpPublisher*>(p->data);
    if (!self) return;
    if (status < 0) return self->lost(std::string("socket error: ") + uv_strerror(status));
    self->drain_input();
  });
  if (heartbeat_s_ > 0) {
    // rabbitmq-c sends and checks heartbeats only when called: call it twice a period.
    heartbeat_timer_ = UvHandle<uv_timer_t>([&](uv_timer_t* t) { return uv_timer_init(loop_, t); });
    heartbeat_timer_.get()->data = this;
    uint64_t period = static_cast<uint64_t>(heartbeat_s_) * 500;
    uv_timer_start(heartbeat_timer_.get(), [](uv_timer_t* t) {
      auto* self = static_cast<AmqpPublisher*>(t->data);
      if (self) self->drain_input();
    }, period, period);
  }
  listener_.on_broker_connected();
}

std::string AmqpPublisher::open_connection() {
  connection_ = amqp_new_connection();
  if (!connection_) return "out of memory";
  timeval timeout{kTimeoutSeconds, 0};
  amqp_set_handshake_timeout(connection_, &timeout);
  amqp_set_rpc_timeout(connection_, &timeout);
  amqp_socket_t* socket = tls_ ? amqp_ssl_socket_new(connection_) : amqp_tcp_socket_new(connection_);
  if (!socket) return "cannot create a socket";
  if (tls_) {
    if (!tls_ca_file_.empty() && amqp_ssl_socket_set_cacert(socket, tls_ca_file_.c_str()) != AMQP_STATUS_OK) {
      return "cannot load tls_ca_file " + tls_ca_file_;
    }
    // rabbitmq-c trusts nothing without a CA file; the system's store (or SSL_CERT_FILE and
    // SSL_CERT_DIR) is what an operator expects, as paho and libpq do.
    if (tls_ca_file_.empty() &&
        SSL_CTX_set_default_verify_paths(static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket))) != 1) {
      return "cannot load the system's CA certificates (set tls_ca_file)";
    }
    if (!tls_cert_file_.empty() &&
        amqp_ssl_socket_set_key(socket, tls_cert_file_.c_str(), tls_key_file_.c_str()) != AMQP_STATUS_OK) {
      return "cannot load tls_cert_file/tls_key_file";
    }
    amqp_ssl_socket_set_verify_peer(socket, tls_verify_);
    amqp_ssl_socket_set_verify_hostname(socket, tls_verify_);
  }
  int status = amqp_socket_open_noblock(socket, host_.c_str(), port_, &timeout);
  if (status != AMQP_STATUS_OK) {
    return "cannot connect to " + host_ + ":" + std::to_string(port_) + ": " + amqp_error_string2(status);
  }
  // RabbitMQ tells of its alarms (connection.blocked) only to clients that say they understand;
  // rabbitmq-c merges this with its own capabilities.
  amqp_table_entry_t capability;
  capability.key = amqp_cstring_bytes("connection.blocked");
  capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability.value.value.boolean = 1;
  amqp_table_entry_t property;
  property.key = amqp_cstring_bytes("capabilities");
  property.value.kind = AMQP_FIELD_KIND_TABLE;
  property.value.value.table = amqp_table_t{1, &capability};
  amqp_table_t properties{1, &property};
  std::string problem = reply_error(
      amqp_login_with_properties(connection_, vhost_.c_str(), 0, kFrameMax, heartbeat_s_, &properties,
                                 AMQP_SASL_METHOD_PLAIN, user_.c_str(), password_.c_str()),
      ("login to vhost \"" + vhost_ + "\" as \"" + user_ + "\"").c_str());
  if (!problem.empty()) return problem;
  amqp_channel_open(connection_, kChannel);
  problem = reply_error(amqp_get_rpc_reply(connection_), "channel.open");
  if (!problem.empty()) return problem;
  amqp_confirm_select(connection_, kChannel);
  problem = reply_error(amqp_get_rpc_reply(connection_), "confirm.select");
  if (!problem.empty()) return problem;
  next_tag_ = 1;
  return check_target();
}

std::string AmqpPublisher::check_target() {
  bool passive = !declare_;
  std::string problem;
  if (target_is_queue_) {
    amqp_queue_declare(connection_, kChannel, as_bytes(target_), passive, /*durable=*/1,
                       /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
    problem = reply_error(amqp_get_rpc_reply(connection_), ("queue \"" + target_ + "\"").c_str());
  } else if (target_.rfind("amq.", 0) != 0) {  // amq.* exchanges always exist
    amqp_exchange_declare(connection_, kChannel, as_bytes(target_), amqp_cstring_bytes("topic"), passive,
                          /*durable=*/1, /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
    problem = reply_error(amqp_get_rpc_reply(connection_), ("exchange \"" + target_ + "\"").c_str());
  }
  if (!problem.empty() && passive) problem += " (create it, or set declare = true)";
  return problem;
}

void AmqpPublisher::publish(const ipc::Publish& message) {
  if (!connection_) return;
  if (message.routing_key.size() > kMaxShortString) {
    return listener_.on_unroutable(message.seq, "its routing key is " + std::to_string(message.routing_key.size()) +
                                                    " bytes; AMQP allows at most 255");
  }
  std::vector<amqp_table_entry_t> headers;
  for (const auto& [key, value] : message.headers) {
    amqp_table_entry_t entry;
    entry.key = as_bytes(key);
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = as_bytes(value);
    headers.push_back(entry);
  }
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                 AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
  props.content_type = as_bytes(content_type_);
  props.delivery_mode = persistent_ ? 2 : 1;
  props.message_id = as_bytes(message.message_id);
  props.timestamp = message.timestamp_us / 1000000;
  props.app_id = amqp_cstring_bytes("pgep");
  props.headers.num_entries = static_cast<int>(headers.size());
  props.headers.entries = headers.data();
  int status = amqp_basic_publish(connection_, kChannel, as_bytes(exchange_), as_bytes(message.routing_key),
                                  /*mandatory=*/1, /*immediate=*/0, &props, as_bytes(message.body));
  if (status != AMQP_STATUS_OK) return lost(std::string("publish failed: ") + amqp_error_string2(status));
  uint64_t tag = next_tag_++;
  unconfirmed_[tag] = message.seq;
  message_ids_[tag] = message.message_id;
}

void AmqpPublisher::drain_input() {
  while (connection_) {
    amqp_frame_t frame;
    timeval zero{0, 0};
    int status = amqp_simple_wait_frame_noblock(connection_, &frame, &zero);
    if (status == AMQP_STATUS_TIMEOUT) break;
    if (status != AMQP_STATUS_OK) return lost(std::string("connection failed: ") + amqp_error_string2(status));
    if (frame.frame_type == AMQP_FRAME_METHOD) handle_method(frame);
  }
  if (connection_) amqp_maybe_release_buffers(connection_);
}

void AmqpPublisher::handle_method(const amqp_frame_t& frame) {
  switch (frame.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      auto* m = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
      return confirm(m->delivery_tag, m->multiple, true);
    }
    case AMQP_BASIC_NACK_METHOD: {
      auto* m = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
      return confirm(m->delivery_tag, m->multiple, false);
    }
    case AMQP_BASIC_RETURN_METHOD:
      return note_return(*static_cast<amqp_basic_return_t*>(frame.payload.method.decoded), frame.channel);
    case AMQP_CHANNEL_CLOSE_METHOD: {  // e.g. 406 for a message over max_message_size
      auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
      return lost("the broker closed the channel: " + bytes_text(m->reply_text), /*by_broker=*/true);
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
      // 320 (connection-forced) is the broker stopping or an operator closing us: no refusal.
      return lost("the broker closed the connection: " + bytes_text(m->reply_text), m->reply_code != kConnectionForced);
    }
    case AMQP_CONNECTION_BLOCKED_METHOD: {
      auto* m = static_cast<amqp_connection_blocked_t*>(frame.payload.method.decoded);
      return listener_.on_broker_blocked(true, "connection.blocked: " + bytes_text(m->reason));
    }
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      return listener_.on_broker_blocked(false, "");
    default:
      return;
  }
}

void AmqpPublisher::note_return(const amqp_basic_return_t& method, uint16_t channel) {
  // The returned message's properties follow; its message id names the delivery it was.
  amqp_message_t message;
  amqp_rpc_reply_t reply = amqp_read_message(connection_, channel, &message, 0);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) return lost(reply_error(reply, "reading a returned message"));
  std::string id = (message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) ? bytes_text(message.properties.message_id) : "";
  amqp_destroy_message(&message);
  std::string why = "no queue is bound to exchange \"" + bytes_text(method.exchange) + "\" for routing key \"" +
                    bytes_text(method.routing_key) + "\" (" + bytes_text(method.reply_text) + ")";
  for (const auto& [tag, message_id] : message_ids_) {
    if (message_id == id) {
      returned_[tag] = why;
      return;
    }
  }
}

void AmqpPublisher::confirm(uint64_t tag, bool multiple, bool acked) {
  auto end = multiple ? unconfirmed_.upper_bound(tag) : unconfirmed_.find(tag);
  if (!multiple && end != unconfirmed_.end()) ++end;
  auto begin = multiple ? unconfirmed_.begin() : unconfirmed_.find(tag);
  std::vector<std::pair<uint64_t, uint64_t>> done(begin, end);
  unconfirmed_.erase(begin, end);
  for (const auto& [delivery_tag, seq] : done) {
    message_ids_.erase(delivery_tag);
    auto returned = returned_.find(delivery_tag);
    if (!acked) {
      listener_.on_refused(seq, "the broker nacked the message");
    } else if (returned != returned_.end()) {
      std::string why = returned->second;
      returned_.erase(returned);
      if (drop_unroutable_) listener_.on_unroutable(seq, why);
      else listener_.on_refused(seq, why);
    } else {
      listener_.on_confirmed(seq);
    }
    if (!connection_) return;  // a listener dropped the connection: the rest is resent
  }
}

void AmqpPublisher::lost(const std::string& reason, bool by_broker) {
  close_connection();
  if (by_broker) return listener_.on_broker_closed(reason);
  listener_.on_broker_lost(reason);
}

void AmqpPublisher::disconnect() { close_connection(); }

void AmqpPublisher::close_connection() {
  poll_.reset();
  heartbeat_timer_.reset();
  unconfirmed_.clear();
  message_ids_.clear();
  returned_.clear();
  if (!connection_) return;
  // No connection.close handshake: it blocks, and the broker treats a dropped socket the same
  // for a publisher.
  amqp_destroy_connection(connection_);
  connection_ = nullptr;
}

}  // namespace pgep
