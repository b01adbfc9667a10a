// A small writer of JSON objects for log lines and pgep-ctl's status: strings escaped, keys in
// the order written. Reading JSON is simdjson's job; writing this little needs no library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pgep {

void append_json_string(std::string& out, std::string_view text);

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, uint64_t value);
  JsonObject& add(std::string_view key, bool value);
  // `json` is already JSON (an object or an array).
  JsonObject& add_raw(std::string_view key, std::string_view json);
  std::string str() const { return text_ + "}"; }

 private:
  void key(std::string_view name);
  std::string text_ = "{";
};

}  // namespace pgep
