// libFuzzer target: the configuration loader on arbitrary INI text. Every input must load to
// either a configuration or a list of errors; a valid one must print and load again.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shared/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  pgep::ConfigInput input{"", {}, 1000};
  pgep::ConfigResult result = pgep::load_config_text(text, "fuzz.ini", input);
  for (const pgep::ConfigError& error : result.errors) (void)error.to_string();
  if (result.ok()) {
    std::string printed = pgep::format_config(result.config);
    (void)pgep::load_config_text(printed, "printed.ini", input);
  }
  return 0;
}
