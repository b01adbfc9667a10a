#include "supervisor/sources/wal_state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "shared/lsn.h"
#include "shared/unix_socket.h"
#include "shared/uri.h"
#include "supervisor/sources/event_ids.h"

namespace pgep {

namespace {

constexpr const char* kHeader = "# pgep state: the last WAL position confirmed to PostgreSQL for this slot. Do not edit.\n";
constexpr const char* kFormat = "2";
const char* const kKeys[] = {"format", "system_id", "database", "slot", "timeline", "confirmed_lsn"};

// FNV-1a, 64 bits: enough to tell a torn or edited file from a whole one.
std::string checksum(const std::string& text) {
  uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

// Reads a whole small file; false with `error` when it exists but cannot be read.
bool read_text(const std::string& path, std::string& text, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

// write, fsync, rename, fsync the directory: after a crash the file is the old one or the new
// one, whole.
bool write_durably(const std::string& path, const std::string& text, std::string& error) {
  std::filesystem::path target(path);
  std::error_code ignored;
  std::filesystem::create_directories(target.parent_path(), ignored);
  std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + temporary + ": " + std::strerror(errno);
    return false;
  }
  bool ok = write_all(fd, text) && ::fsync(fd) == 0;
  if (!ok) error = "cannot write " + temporary + ": " + std::strerror(errno);
  if (::close(fd) != 0 && ok) {
    ok = false;
    error = "cannot write " + temporary + ": " + std::strerror(errno);
  }
  if (ok && std::rename(temporary.c_str(), path.c_str()) != 0) {
    ok = false;
    error = "cannot rename " + temporary + " to " + path + ": " + std::strerror(errno);
  }
  if (!ok) {
    ::unlink(temporary.c_str());
    return false;
  }
  std::string directory = target.parent_path().empty() ? "." : target.parent_path().string();
  int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

}  // namespace

std::string SlotIdentity::describe() const {
  return "system " + system_id + ", database " + database + ", slot " + slot;
}

std::string format_slot_state(const SlotState& state) {
  std::string body = std::string(kHeader) + "format " + kFormat + "\n";
  body += "system_id " + encode_name_word(state.identity.system_id) + "\n";
  body += "database " + encode_name_word(state.identity.database) + "\n";
  body += "slot " + encode_name_word(state.identity.slot) + "\n";
  body += "timeline " + std::to_string(state.timeline) + "\n";
  body += "confirmed_lsn " + format_lsn(state.confirmed_lsn) + "\n";
  for (const auto& [bridge, p] : state.bridges) {
    std::string ordinal = p.ordinal == WalPosition::kEnd ? "end" : std::to_string(p.ordinal);
    body += "bridge " + encode_name_word(bridge) + " " + format_lsn(p.unit) + " " + ordinal + " " + format_lsn(p.end) + "\n";
  }
  return body + "checksum " + checksum(body) + "\n";
}

std::optional<SlotState> parse_slot_state(const std::string& text, std::string& error) {
  size_t at = text.rfind("checksum ");
  if (at == std::string::npos || text.empty() || text.back() != '\n') {
    error = "it ends before its checksum line (a torn write?)";
    return std::nullopt;
  }
  std::string body = text.substr(0, at);
  std::string sum = text.substr(at + 9, text.size() - at - 10);
  if (sum != checksum(body)) {
    error = "its checksum does not match its content (torn or edited)";
    return std::nullopt;
  }
  std::map<std::string, std::string> values;
  std::map<std::string, WalPosition> bridges;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    if (line.compare(0, space, "bridge") == 0) {
      std::istringstream words(line.substr(space + 1));
      std::string name, unit, ordinal, end;
      words >> name >> unit >> ordinal >> end;
      std::optional<uint64_t> u = parse_lsn(unit), e = parse_lsn(end);
      std::string bridge;
      if (!u || !e || ordinal.empty() || !percent_decode(name, bridge)) {
        error = "its line \"" + line + "\" is not a bridge's position";
        return std::nullopt;
      }
      bridges[bridge] = {*u, ordinal == "end" ? WalPosition::kEnd : std::strtoull(ordinal.c_str(), nullptr, 10), *e};
      continue;
    }
    values[line.substr(0, space)] = line.substr(space + 1);
  }
  for (const char* key : kKeys) {
    if (!values.count(key)) {
      error = std::string("it has no ") + key + " line";
      return std::nullopt;
    }
  }
  if (values["format"] != kFormat) {
    error = "it is of format " + values["format"] + ", which this pgep does not know (a newer pgep wrote it?)";
    return std::nullopt;
  }
  std::optional<uint64_t> lsn = parse_lsn(values["confirmed_lsn"]);
  if (!lsn) {
    error = "its confirmed_lsn \"" + values["confirmed_lsn"] + "\" is not a WAL position";
    return std::nullopt;
  }
  SlotState state;
  if (!percent_decode(values["system_id"], state.identity.system_id) ||
      !percent_decode(values["database"], state.identity.database) || !percent_decode(values["slot"], state.identity.slot)) {
    error = "its identity lines are not written as pgep writes them";
    return std::nullopt;
  }
  state.timeline = static_cast<uint32_t>(std::strtoul(values["timeline"].c_str(), nullptr, 10));
  state.confirmed_lsn = *lsn;
  state.bridges = std::move(bridges);
  return state;
}

WalStateFile::Read WalStateFile::read_state(const SlotIdentity& identity, uint32_t timeline) {
  identity_ = identity;
  timeline_ = timeline;
  path_ = !explicit_path_.empty() ? explicit_path_
                                  : directory_ + "/" + encode_name_word(identity.system_id) + "-" +
                                        encode_name_word(identity.database) + "-" + encode_name_word(identity.slot) +
                                        ".state";
  Read read;
  std::string text, error;
  std::error_code unknown;  // a path that cannot be read is reported below, by read_text
  if (std::filesystem::is_symlink(path_, unknown)) {
    read.outcome = Read::Outcome::Error;
    read.error = "the state file " + path_ + " is a symbolic link; expected a plain file (pgep never writes through a link)";
    return read;
  }
  if (!std::filesystem::exists(path_)) {
    std::string legacy = explicit_path_.empty() ? directory_ + "/" + identity.slot + ".lsn" : "";
    return legacy.empty() || !std::filesystem::exists(legacy) ? read : read_legacy(legacy, false);
  }
  if (!read_text(path_, text, error)) {
    read.outcome = Read::Outcome::Error;
    read.error = "the state file " + path_ + " cannot be read: " + error;
    return read;
  }
  std::optional<SlotState> state = parse_slot_state(text, error);
  if (!state) {
    if (!explicit_path_.empty() && parse_lsn(text.substr(0, text.find('\n')))) return read_legacy(path_, true);
    read.outcome = Read::Outcome::Error;
    read.error = "the state file " + path_ + " is not whole: " + error;
    return read;
  }
  if (!(state->identity == identity)) {
    read.outcome = Read::Outcome::Error;
    read.error = "the state file " + path_ + " belongs to " + state->identity.describe() + ", but pgep is connected to " +
                 identity.describe() + ": give this slot its own state_file (or leave it empty for one per slot)";
    return read;
  }
  read.outcome = Read::Outcome::Found;
  read.confirmed_lsn = saved_lsn_ = state->confirmed_lsn;
  saved_bridges_ = state->bridges;
  return read;
}

// The first format: one line, an LSN. Read once, rewritten in the current format at path_.
WalStateFile::Read WalStateFile::read_legacy(const std::string& legacy, bool is_explicit) {
  Read read;
  std::string text, error;
  std::optional<uint64_t> lsn;
  if (read_text(legacy, text, error)) lsn = parse_lsn(text.substr(0, text.find('\n')));
  if (!lsn) {
    read.outcome = Read::Outcome::Error;
    read.error = "the state file " + legacy + " (of pgep's first format) does not hold a WAL position" +
                 (error.empty() ? "" : ": " + error);
    return read;
  }
  read.outcome = Read::Outcome::Found;
  read.confirmed_lsn = *lsn;
  read.migrated_from = legacy;
  saved_lsn_ = 0;
  if (!write_state(*lsn)) {
    read.outcome = Read::Outcome::Error;
    read.error = "the state file " + legacy + " could not be rewritten as " + path_ + ": " + error_;
    return read;
  }
  if (!is_explicit) ::unlink(legacy.c_str());
  return read;
}

// A file that cannot be written is said, but does not hold the slot back: that would pin WAL on
// the server for a check that only detects a vanished slot.
uint64_t WalStateFile::save(uint64_t lsn, const std::map<std::string, WalPosition>& bridges) {
  write_state(lsn, bridges);
  return lsn;
}

bool WalStateFile::write_state(uint64_t lsn, const std::map<std::string, WalPosition>& bridges) {
  lsn = std::max(lsn, saved_lsn_);
  if ((lsn == saved_lsn_ && bridges == saved_bridges_) || path_.empty()) return true;
  SlotState state{identity_, timeline_, lsn, bridges};
  if (!write_durably(path_, format_slot_state(state), error_)) return false;
  saved_lsn_ = lsn;
  saved_bridges_ = bridges;
  error_.clear();
  return true;
}

}  // namespace pgep
