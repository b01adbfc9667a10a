// Logging: one line per event worth telling an operator, to stderr (text or JSON lines) or
// syslog. Messages must never hold a password: pass URIs through mask_uri_password().
#pragma once

#include <string>
#include <string_view>

#include "shared/config.h"

namespace pgep {

// Sets where and how lines are written, and the lowest level written. `program` names the
// process in every line ("pgep", "pgep-worker[bridge]").
void log_setup(std::string_view program, LogLevel level, LogFormat format, LogOutput output);

// The settings' words ("debug", "json", "syslog"); anything else gives the default.
LogLevel log_level_from(std::string_view word);
LogFormat log_format_from(std::string_view word);
LogOutput log_output_from(std::string_view word);

bool log_enabled(LogLevel level);
// `text` with control characters written as \n, \r, \t or \xNN (what log_write does to every
// text or syslog message).
std::string escape_control(std::string_view text);
void log_write(LogLevel level, std::string_view message);

inline void log_error(std::string_view m) { log_write(LogLevel::Error, m); }
inline void log_warn(std::string_view m) { log_write(LogLevel::Warn, m); }
inline void log_info(std::string_view m) { log_write(LogLevel::Info, m); }
inline void log_debug(std::string_view m) { log_write(LogLevel::Debug, m); }

// The lines of one object, each opening with its prefix ("bridge NAME: "), set once.
class Logger {
 public:
  explicit Logger(std::string prefix = "") : prefix_(std::move(prefix)) {}
  void write(LogLevel level, std::string_view m) const {
    if (log_enabled(level)) log_write(level, prefix_ + std::string(m));
  }
  void error(std::string_view m) const { write(LogLevel::Error, m); }
  void warn(std::string_view m) const { write(LogLevel::Warn, m); }
  void info(std::string_view m) const { write(LogLevel::Info, m); }
  void debug(std::string_view m) const { write(LogLevel::Debug, m); }

 private:
  std::string prefix_;
};

}  // namespace pgep
