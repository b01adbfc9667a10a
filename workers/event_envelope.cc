#include "workers/event_envelope.h"

#include <simdjson.h>

#include "shared/json_writer.h"

namespace pgep {

namespace {

// Whether `text` is one JSON value, to be embedded as it is.
bool is_json(const std::string& text) {
  static thread_local simdjson::dom::parser parser;
  simdjson::dom::element ignored;
  return parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(ignored) == simdjson::SUCCESS;
}

}  // namespace

std::string event_envelope(const ipc::Publish& message, const std::string& channel) {
  std::string envelope = "{\"id\":";
  append_json_string(envelope, message.message_id);
  envelope += ",\"channel\":";
  append_json_string(envelope, channel);
  envelope += ",\"routing_key\":";
  append_json_string(envelope, message.routing_key);
  envelope += ",\"body\":";
  if (is_json(message.body)) {
    envelope += message.body;
  } else {
    append_json_string(envelope, message.body);
  }
  envelope += "}";
  return envelope;
}

}  // namespace pgep
