#include "shared/uri.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pgep {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool valid_scheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::optional<Uri> parse_uri(std::string_view text, std::string& error) {
  Uri uri;
  size_t sep = text.find("://");
  if (sep == std::string_view::npos || !valid_scheme(text.substr(0, sep))) {
    error = "not a URI (expected scheme://host...)";
    return std::nullopt;
  }
  uri.scheme = lower(text.substr(0, sep));
  std::string_view rest = text.substr(sep + 3);

  size_t query_at = rest.find('?');
  if (query_at != std::string_view::npos) {
    uri.query = std::string(rest.substr(query_at + 1));
    rest = rest.substr(0, query_at);
  }
  size_t path_at = rest.find('/');
  std::string_view authority = rest.substr(0, path_at);
  if (path_at != std::string_view::npos) {
    std::string decoded;
    if (!percent_decode(rest.substr(path_at + 1), decoded)) {
      error = "malformed %-escape in the path";
      return std::nullopt;
    }
    uri.path = decoded;
  }

  // The userinfo ends at the last '@': an unescaped '@' in a password is common enough.
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    std::string decoded;
    if (!percent_decode(userinfo.substr(0, colon), decoded)) {
      error = "malformed %-escape in the user name";
      return std::nullopt;
    }
    uri.user = decoded;
    if (colon != std::string_view::npos) {
      if (!percent_decode(userinfo.substr(colon + 1), decoded)) {
        error = "malformed %-escape in the password";
        return std::nullopt;
      }
      uri.password = decoded;
    }
  }

  bool has_port = false;
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [ in an IPv6 host";
      return std::nullopt;
    }
    uri.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        error = "unexpected text after the IPv6 host";
        return std::nullopt;
      }
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    uri.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
  }
  if (uri.host.empty()) {
    error = "no host";
    return std::nullopt;
  }
  if (has_port) {
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
      error = "bad port \"" + std::string(port_text) + "\" (expected 1 to 65535)";
      return std::nullopt;
    }
    uri.port = port;
  }
  return uri;
}

std::string mask_uri_password(std::string_view text) {
  std::string out(text);
  size_t sep = out.find("://");
  if (sep != std::string::npos) {
    size_t start = sep + 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "****");
    }
  }
  // libpq also accepts password=... as a URI query parameter, and as a key/value word:
  // `password=x`, `password = x`, `password='a b\'c'`.
  for (size_t pos = out.find("password"); pos != std::string::npos; pos = out.find("password", pos + 1)) {
    size_t value = pos + 8;
    while (value < out.size() && out[value] == ' ') ++value;
    if (value >= out.size() || out[value] != '=') continue;
    ++value;
    while (value < out.size() && out[value] == ' ') ++value;
    size_t end = value;
    if (end < out.size() && out[end] == '\'') {
      for (++end; end < out.size() && out[end] != '\''; ++end) {
        if (out[end] == '\\') ++end;  // an escaped quote or backslash
      }
      end = std::min(end + 1, out.size());
    } else {
      end = std::min(out.find_first_of("& ", value), out.size());
    }
    out.replace(value, end - value, "****");
  }
  return out;
}

}  // namespace pgep
