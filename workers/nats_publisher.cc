#include "workers/nats_publisher.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "shared/bridge_spec.h"
#include "shared/uri.h"

namespace pgep {

// What libnats's callbacks point to: one per connection, all kept by their Inbox.
struct NatsPublisher::Closure {
  Inbox* inbox;
  uint64_t connection;
};

// Shared with libnats's threads, which may call back after a connection is gone.
struct NatsPublisher::Inbox {
  std::mutex mutex;
  std::vector<Answer> answers;
  uint64_t connection = 0;  // the current connection; answers about older ones are dropped
  std::deque<Closure> closures;
  UvHandle<uv_async_t> wake;  // reset once the publisher is gone: nothing reaches the loop then

  void post(Answer answer) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!wake || answer.connection != connection) return;
    answers.push_back(std::move(answer));
    uv_async_send(wake.get());
  }

  // Inboxes are few (one per worker) and never freed: reachable, they are no leak.
  static Inbox* make() {
    static std::mutex registry_mutex;
    static std::vector<std::unique_ptr<Inbox>> registry;
    std::lock_guard<std::mutex> lock(registry_mutex);
    registry.push_back(std::make_unique<Inbox>());
    return registry.back().get();
  }
};

namespace {

std::string status_text(natsStatus status) {
  const char* last = nats_GetLastError(nullptr);
  std::string text = natsStatus_GetText(status);
  if (last && *last && text != last) text += std::string(": ") + last;
  return text;
}

// The PubAck (or its failure) of one message, on a libnats thread.
void on_pub_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* failure, void* data) {
  auto* closure = static_cast<NatsPublisher::Closure*>(data);
  NatsPublisher::Answer answer;
  answer.connection = closure->connection;
  const char* id = nullptr;
  if (natsMsgHeader_Get(message, "Nats-Msg-Id", &id) == NATS_OK && id) answer.id = id;
  if (ack) {
    answer.ok = true;
  } else if (failure) {
    answer.refused = failure->ErrCode != 0;  // JetStream's own answer about this message
    answer.error = failure->ErrText ? failure->ErrText : natsStatus_GetText(failure->Err);
    if (failure->Err == NATS_NO_RESPONDERS) answer.error = "no JetStream stream takes the subject";
    if (failure->Err == NATS_TIMEOUT) answer.error = "no PubAck in time";
  }
  natsMsg_Destroy(message);
  closure->inbox->post(std::move(answer));
}

void on_connection_event(natsConnection*, void* data) {
  auto* closure = static_cast<NatsPublisher::Closure*>(data);
  closure->inbox->post(NatsPublisher::Answer{closure->connection, "", false, false, "connection lost"});
}

std::string default_stream_name(const std::string& subject) {
  std::string name = "PGEP_";
  for (char c : subject) name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return name;
}

}  // namespace

NatsPublisher::NatsPublisher(uv_loop_t* loop, const Settings& settings, PublisherListener& listener)
    : listener_(listener),
      settings_(settings),
      subject_(settings.text(kSettingTarget)),
      timeout_ms_(static_cast<int64_t>(settings.duration_ms("timeout"))),
      max_in_flight_(static_cast<int>(settings.number("max_in_flight"))),
      inbox_(Inbox::make()) {
  inbox_->wake = UvHandle<uv_async_t>([&](uv_async_t* a) {
    return uv_async_init(loop, a, [](uv_async_t* handle) { static_cast<NatsPublisher*>(handle->data)->take_answers(); });
  });
  inbox_->wake.get()->data = this;
}

NatsPublisher::~NatsPublisher() {
  disconnect();
  std::lock_guard<std::mutex> lock(inbox_->mutex);
  inbox_->wake = UvHandle<uv_async_t>();
}

void NatsPublisher::connect() {
  disconnect();
  std::string error;
  if (!open_connection(error) || (settings_.flag("declare") && !declare_stream(error))) {
    disconnect();
    return listener_.on_broker_lost(error);
  }
  listener_.on_broker_connected();
}

bool NatsPublisher::open_connection(std::string& error) {
  std::string ignored;
  std::optional<Uri> uri = parse_uri(settings_.text("uri"), ignored);
  if (!uri) throw std::runtime_error("nats uri: " + ignored);  // checked by the supervisor
  Closure* closure = nullptr;
  {
    std::lock_guard<std::mutex> lock(inbox_->mutex);
    inbox_->closures.push_back(Closure{inbox_, ++inbox_->connection});
    closure = &inbox_->closures.back();
  }
  natsOptions* options = nullptr;
  natsStatus s = natsOptions_Create(&options);
  std::unique_ptr<natsOptions, decltype(&natsOptions_Destroy)> owned(options, &natsOptions_Destroy);
  std::string url = "nats://" + (uri->host.find(':') != std::string::npos ? "[" + uri->host + "]" : uri->host) + ":" +
                    std::to_string(uri->port.value_or(4222));
  auto set = [&](natsStatus status, const char* what) {
    if (s == NATS_OK && status != NATS_OK) {
      s = status;
      error = std::string(what) + ": " + status_text(status);
    }
  };
  set(natsOptions_SetURL(options, url.c_str()), "the URI");
  if (uri->user) set(natsOptions_SetUserInfo(options, uri->user->c_str(), uri->password.value_or("").c_str()), "user");
  if (!settings_.text("token").empty()) set(natsOptions_SetToken(options, settings_.text("token").c_str()), "token");
  if (!settings_.text("credentials_file").empty()) {
    set(natsOptions_SetUserCredentialsFromFiles(options, settings_.text("credentials_file").c_str(), nullptr),
        "credentials_file");
  }
  if (!settings_.text("nkey_seed_file").empty()) {
    set(natsOptions_SetNKeyFromSeed(options, settings_.text("nkey").c_str(), settings_.text("nkey_seed_file").c_str()),
        "nkey_seed_file");
  }
  if (uri->scheme == "tls") {
    set(natsOptions_SetSecure(options, true), "TLS");
    if (!settings_.text("tls_ca_file").empty()) {
      set(natsOptions_LoadCATrustedCertificates(options, settings_.text("tls_ca_file").c_str()), "tls_ca_file");
    }
    if (!settings_.text("tls_cert_file").empty()) {
      const std::string& key = settings_.text("tls_key_file");
      set(natsOptions_LoadCertificatesChain(options, settings_.text("tls_cert_file").c_str(),
                                            (key.empty() ? settings_.text("tls_cert_file") : key).c_str()),
          "tls_cert_file");
    }
    if (!settings_.flag("tls_verify")) set(natsOptions_SkipServerVerification(options, true), "tls_verify");
  }
  set(natsOptions_SetTimeout(options, timeout_ms_), "timeout");
  set(natsOptions_SetAllowReconnect(options, false), "reconnect");
  set(natsOptions_SetDisconnectedCB(options, on_connection_event, closure), "callbacks");
  set(natsOptions_SetMaxPendingMsgs(options, 65536), "pending");
  if (s != NATS_OK) return false;
  s = natsConnection_Connect(&connection_, options);
  if (s != NATS_OK) {
    error = "connect to " + mask_uri_password(settings_.text("uri")) + " failed: " + status_text(s);
    return false;
  }
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = timeout_ms_;
  js_options.PublishAsync.MaxPending = max_in_flight_ + 1;  // the worker's window keeps below it
  js_options.PublishAsync.AckHandler = on_pub_ack;
  js_options.PublishAsync.AckHandlerClosure = closure;
  s = natsConnection_JetStream(&js_, connection_, &js_options);
  if (s != NATS_OK) error = "JetStream: " + status_text(s);
  return s == NATS_OK;
}

// A stream for the subject and everything under it, unless one with that name exists.
bool NatsPublisher::declare_stream(std::string& error) {
  std::string name = settings_.text("stream").empty() ? default_stream_name(subject_) : settings_.text("stream");
  std::string below = subject_ + ".>";
  const char* subjects[] = {subject_.c_str(), below.c_str()};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = name.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 2;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&info, js_, &config, nullptr, &code);
  jsStreamInfo_Destroy(info);
  if (s == NATS_OK || code == JSStreamNameExistErr) return true;
  error = "declare: cannot create stream " + name + " for " + subject_ + ": " + status_text(s);
  return false;
}

void NatsPublisher::publish(const ipc::Publish& message) {
  if (!js_) return;
  const std::string& subject = message.routing_key;
  if (std::string problem = nats_subject_problem(subject); !problem.empty()) {
    return listener_.on_unroutable(message.seq, "subject \"" + subject + "\": " + problem);
  }
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, message.body.data(), static_cast<int>(message.body.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", message.message_id.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Pgep-Channel", settings_.text(kSettingChannel).c_str());
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return listener_.on_unroutable(message.seq, "cannot make a NATS message of it: " + status_text(s));
  }
  in_flight_[message.message_id] = message.seq;
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = timeout_ms_;
  s = js_PublishMsgAsync(js_, &msg, &options);  // takes the message, unless it failed
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    in_flight_.erase(message.message_id);
    lost("publish failed: " + status_text(s));
  }
}

void NatsPublisher::take_answers() {
  std::vector<Answer> answers;
  {
    std::lock_guard<std::mutex> lock(inbox_->mutex);
    answers.swap(inbox_->answers);
  }
  for (Answer& answer : answers) {
    if (!js_) return;  // lost meanwhile: the rest is about the old connection
    if (answer.id.empty()) return lost(answer.error);
    auto found = in_flight_.find(answer.id);
    if (found == in_flight_.end()) continue;
    uint64_t seq = found->second;
    in_flight_.erase(found);
    if (answer.ok) {
      listener_.on_confirmed(seq);
    } else if (answer.refused) {
      listener_.on_refused(seq, "JetStream refused it: " + answer.error);
    } else {
      return lost(answer.error + " (subject " + subject_ + (settings_.flag("declare") ? ")" : "; create a stream for it, or set declare = true)"));
    }
  }
}

void NatsPublisher::lost(const std::string& reason) {
  disconnect();
  listener_.on_broker_lost(reason);
}

void NatsPublisher::disconnect() {
  in_flight_.clear();
  if (js_) {
    jsCtx_Destroy(js_);
    js_ = nullptr;
  }
  if (connection_) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
    connection_ = nullptr;
  }
  std::lock_guard<std::mutex> lock(inbox_->mutex);
  inbox_->answers.clear();  // about the connection just closed
  ++inbox_->connection;     // and whatever it says from now on is dropped
}

}  // namespace pgep
