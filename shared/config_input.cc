// Where a configuration comes from and how its errors are told: the file and this process's
// environment, read by pgep at start and on reload, by pgep -t and by pgep-ctl.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "shared/config.h"
#include "shared/config_options.h"

extern char** environ;

namespace pgep {

std::string ConfigError::to_string() const {
  std::string out = where;
  if (!key.empty()) out += ": " + key;
  if (has_value) out += " = \"" + displayed_value(key, value) + "\"";
  out += ": " + problem;
  return out;
}

std::string ConfigResult::describe(std::string_view separator) const {
  std::string out;
  for (const ConfigError& error : errors) out += (out.empty() ? "" : std::string(separator)) + error.to_string();
  return out;
}

ConfigInput ConfigInput::from_process(std::string file) {
  return ConfigInput{std::move(file), process_environment(), static_cast<unsigned>(getuid())};
}

std::string ConfigInput::variable(std::string_view name) const {
  for (const auto& [key, value] : environment) {
    if (key == name) return value;
  }
  return "";
}

ConfigResult load_config(const ConfigInput& input) {
  if (input.file.empty()) return load_config_text("", "", input);
  std::ifstream in(input.file, std::ios::binary);
  if (!in) {
    ConfigResult result;
    result.errors.push_back({input.file, "", "", false,
                             std::string("cannot read the configuration file: ") +
                                 std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), input.file, input);
}

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

}  // namespace pgep
