#include "shared/log.h"

#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "shared/json_writer.h"

namespace pgep {

namespace {

struct LogState {
  std::string program = "pgep";
  LogLevel level = LogLevel::Info;
  LogFormat format = LogFormat::Text;
  LogOutput output = LogOutput::Stderr;
};

LogState& state() {
  static LogState s;
  return s;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Error: return "error";
    case LogLevel::Warn: return "warn";
    case LogLevel::Info: return "info";
    case LogLevel::Debug: return "debug";
  }
  return "info";
}

int syslog_priority(LogLevel level) {
  switch (level) {
    case LogLevel::Error: return LOG_ERR;
    case LogLevel::Warn: return LOG_WARNING;
    case LogLevel::Info: return LOG_INFO;
    case LogLevel::Debug: return LOG_DEBUG;
  }
  return LOG_INFO;
}

std::string timestamp() {
  timeval now{};
  gettimeofday(&now, nullptr);
  tm parts{};
  gmtime_r(&now.tv_sec, &parts);
  char text[40];
  size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  snprintf(text + n, sizeof text - n, ".%03ldZ", static_cast<long>(now.tv_usec / 1000));
  return text;
}


}  // namespace

void log_setup(std::string_view program, LogLevel level, LogFormat format, LogOutput output) {
  LogState& s = state();
  s.program = std::string(program);
  s.level = level;
  s.format = format;
  s.output = output;
  if (output == LogOutput::Syslog) openlog(s.program.c_str(), LOG_PID, LOG_DAEMON);
}

LogLevel log_level_from(std::string_view word) {
  if (word == "error") return LogLevel::Error;
  if (word == "warn") return LogLevel::Warn;
  if (word == "debug") return LogLevel::Debug;
  return LogLevel::Info;
}

LogFormat log_format_from(std::string_view word) { return word == "json" ? LogFormat::Json : LogFormat::Text; }

LogOutput log_output_from(std::string_view word) { return word == "syslog" ? LogOutput::Syslog : LogOutput::Stderr; }

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(state().level); }

std::string escape_control(std::string_view text) {
  auto control = [](unsigned char c) { return c < 0x20 || c == 0x7f; };
  if (std::none_of(text.begin(), text.end(), [&](char c) { return control(static_cast<unsigned char>(c)); })) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size() + 16);
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (!control(c)) {
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

void log_write(LogLevel level, std::string_view raw) {
  const LogState& s = state();
  if (!log_enabled(level)) return;
  // A line is one event: text from outside (a NOTIFY key, a broker's error) cannot start
  // another one. JSON escapes it in its own way.
  std::string escaped = s.format == LogFormat::Json && s.output == LogOutput::Stderr ? "" : escape_control(raw);
  std::string_view message = escaped.empty() ? raw : std::string_view(escaped);
  if (s.output == LogOutput::Syslog) {
    syslog(syslog_priority(level), "%.*s", static_cast<int>(message.size()), message.data());
    return;
  }
  std::string line;
  if (s.format == LogFormat::Json) {
    line = "{\"time\":\"" + timestamp() + "\",\"level\":\"" + level_name(level) + "\",\"program\":";
    append_json_string(line, s.program);
    line += ",\"pid\":" + std::to_string(getpid()) + ",\"message\":";
    append_json_string(line, message);
    line += "}\n";
  } else {
    line = timestamp() + " " + s.program + "[" + std::to_string(getpid()) + "] " +
           level_name(level) + ": " + std::string(message) + "\n";
  }
  // One write per line, so lines of several processes sharing stderr do not interleave.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace pgep
