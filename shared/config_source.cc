#include "shared/config_source.h"

#include <ini.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "shared/values.h"

namespace pgep {

namespace {

constexpr std::string_view kEnvPrefix = "PGPROXY_";

// State shared by the line reader and the entry handler that inih calls in turn: the reader
// knows which line inih is on, which the handler needs for messages and continuation lines.
struct IniState {
  std::string_view text;
  size_t pos = 0;
  int line = 0;
  bool line_indented = false;
  std::string name;
  std::vector<RawEntry>* out = nullptr;
  std::vector<ConfigError>* errors = nullptr;
  // (section, key) -> index in *out and the line it was last given on.
  std::map<std::pair<std::string, std::string>, std::pair<size_t, int>> seen;
  int last_handled_line = 0;
  std::pair<std::string, std::string> last_handled_key;
};

std::string where(const IniState& state) { return state.name + ":" + std::to_string(state.line); }

// inih's reader callback: hands over one line at a time. inih's buffer is fixed (INI_MAX_LINE),
// so a line that does not fit is reported and replaced by an empty one rather than split.
char* read_line(char* buffer, int size, void* user) {
  auto* state = static_cast<IniState*>(user);
  if (state->pos >= state->text.size()) return nullptr;
  size_t end = state->text.find('\n', state->pos);
  size_t next = end == std::string_view::npos ? state->text.size() : end + 1;
  std::string_view line = state->text.substr(state->pos, next - state->pos);
  state->pos = next;
  ++state->line;
  state->line_indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
  if (line.size() + 1 > static_cast<size_t>(size)) {
    state->errors->push_back({where(*state), "", "", false,
                              "line is longer than " + std::to_string(size - 2) +
                                  " bytes, the INI reader's limit; split a list over indented "
                                  "continuation lines, or read a secret from a file with KEY_file"});
    line = "\n";
  }
  if (line.find('\0') != std::string_view::npos) {
    state->errors->push_back({where(*state), "", "", false, "line holds a NUL byte"});
    line = "\n";
  }
  std::memcpy(buffer, line.data(), line.size());
  buffer[line.size()] = '\0';
  return buffer;
}

// A '#' after white space starts a comment (inih itself only knows ';' inline).
std::string strip_hash_comment(std::string_view value) {
  for (size_t i = 1; i < value.size(); ++i) {
    if (value[i] == '#' && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
      return std::string(trim(value.substr(0, i)));
    }
  }
  return std::string(value);
}

int handle_entry(void* user, const char* section_raw, const char* key_raw, const char* value_raw) {
  auto* state = static_cast<IniState*>(user);
  std::string section = to_lower(section_raw);
  std::string key = to_lower(key_raw);
  std::string value = strip_hash_comment(value_raw);
  std::pair<std::string, std::string> id(section, key);

  bool continuation = state->line_indented && state->last_handled_key == id &&
                      state->last_handled_line == state->line - 1;
  state->last_handled_line = state->line;
  state->last_handled_key = id;
  auto found = state->seen.find(id);
  if (continuation && found != state->seen.end()) {
    RawEntry& entry = (*state->out)[found->second.first];
    entry.value += "\n" + value;
    found->second.second = state->line;
    return 1;
  }
  std::string written_as = "[" + std::string(section_raw) + "] " + key_raw;
  if (section.empty()) {
    state->errors->push_back({where(*state), key_raw, value, true,
                              "key outside any section; expected it under a [section] line"});
    return 1;
  }
  if (found != state->seen.end()) {
    state->errors->push_back({where(*state), written_as, value, true,
                              "given twice in the file (first on line " +
                                  std::to_string(found->second.second) + ")"});
    return 1;
  }
  state->seen[id] = {state->out->size(), state->line};
  state->out->push_back({section, key, value, where(*state), written_as, false});
  return 1;
}

}  // namespace

void read_ini_text(std::string_view text, std::string_view name, std::vector<RawEntry>& out,
                   std::vector<ConfigError>& errors) {
  IniState state;
  state.text = text;
  state.name = std::string(name);
  state.out = &out;
  state.errors = &errors;
  int result = ini_parse_stream(read_line, &state, handle_entry, &state);
  if (result > 0) {
    errors.push_back({state.name + ":" + std::to_string(result), "", "", false,
                      "not a [section], key = value, or comment line"});
  } else if (result < 0) {
    errors.push_back({state.name, "", "", false, "could not be read"});
  }
}

void read_environment(const std::vector<std::pair<std::string, std::string>>& environment,
                      std::vector<RawEntry>& out, std::vector<ConfigError>& errors) {
  for (const auto& [name, value] : environment) {
    if (name.compare(0, kEnvPrefix.size(), kEnvPrefix) != 0) continue;
    std::string_view rest(name);
    rest.remove_prefix(kEnvPrefix.size());
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t dash = rest.find('-', start);
      parts.push_back(to_lower(rest.substr(start, dash - start)));
      if (dash == std::string_view::npos) break;
      start = dash + 1;
    }
    bool empty_part = false;
    for (const std::string& p : parts) empty_part = empty_part || p.empty();
    if (parts.size() < 2 || empty_part) {
      errors.push_back({"environment", name, value, true,
                        "not a configuration variable; expected PGPROXY_SECTION-KEY such as "
                        "PGPROXY_DATABASE-URI or PGPROXY_UPSTREAM-NAME-URI"});
      continue;
    }
    std::string section = parts[0];
    for (size_t i = 1; i + 1 < parts.size(); ++i) section += "." + parts[i];
    out.push_back({section, parts.back(), value, "environment", name, true});
  }
}

bool read_secret_file(const std::string& path, std::string& value, std::string& problem) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  // A secret is a password or a URI; a bigger file is a mistake (or /dev/zero), not a secret.
  constexpr size_t kMaxSecretBytes = 64 * 1024;
  value.assign(kMaxSecretBytes + 1, '\0');
  in.read(value.data(), static_cast<std::streamsize>(value.size()));
  value.resize(static_cast<size_t>(in.gcount()));
  if (value.size() > kMaxSecretBytes) {
    problem = path + " is larger than 64 KiB; expected a file holding one secret";
    return false;
  }
  // Files written by editors and `echo` end with a new line that is not part of the secret.
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return true;
}

}  // namespace pgep
