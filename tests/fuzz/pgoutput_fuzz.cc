// libFuzzer target: the pgoutput decoder, fed a stream of messages as a walsender would send
// them. The input is a sequence of [length:1][message] pieces, so Relation messages and the
// changes that refer to them meet in one run. Nothing it reads may crash it; every body it
// writes must be one JSON object (checked by its braces and quotes, as a consumer's parser would
// first fail).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/sources/pgoutput_decoder.h"

namespace {

// A cheap structural check: balanced {} and [] outside strings, strings closed.
bool looks_like_json_object(const std::string& body) {
  if (body.empty() || body.front() != '{' || body.back() != '}') return false;
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      else if (static_cast<unsigned char>(c) < 0x20) return false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') --depth;
    if (depth < 0) return false;
  }
  return depth == 0 && !in_string;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pgep::PgoutputBodyOptions options;
  options.include_pk = size > 0 && (data[0] & 1);
  options.include_lsn = size > 0 && (data[0] & 2);
  options.include_xids = size > 0 && (data[0] & 4);
  options.include_timestamp = size > 0 && (data[0] & 8);
  pgep::PgoutputDecoder decoder(options);
  decoder.types().add_from_catalog(23, {"integer", 0, 0, -1});
  decoder.types().add_from_catalog(1043, {"character varying", 0, 0, -1});
  decoder.types().add_from_catalog(1015, {"character varying[]", 1043, 0, -1});
  decoder.types().add_from_catalog(1186, {"interval", 0, 0, -1});
  std::vector<pgep::WalEvent> events;
  std::string error;
  size_t at = size > 0 ? 1 : 0;
  while (at < size) {
    size_t length = std::min<size_t>(data[at], size - at - 1);
    std::string_view message(reinterpret_cast<const char*>(data) + at + 1, length);
    at += 1 + length;
    size_t count = 0;
    if (!decoder.decode(message, at, events, count, error)) {
      if (error.empty()) std::abort();  // a refusal always says why
      continue;
    }
    for (size_t i = 0; i < count; ++i) {
      if (!looks_like_json_object(events[i].body) || events[i].record.routing_key.empty()) std::abort();
    }
  }
  return 0;
}
