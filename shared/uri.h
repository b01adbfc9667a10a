// A URI of the form scheme://[user[:password]@]host[:port][/path][?query], as the brokers'
// and PostgreSQL's connection strings are written. Credentials and path are percent-decoded,
// so a password holding '@' or ':' is written %40 or %3A.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgep {

struct Uri {
  std::string scheme;                   // lower-cased
  std::optional<std::string> user;      // decoded; absent when the URI has no userinfo
  std::optional<std::string> password;  // decoded; absent when the userinfo has no ':'
  std::string host;                     // without the brackets of an IPv6 literal
  std::optional<int> port;
  std::optional<std::string> path;      // decoded, without the leading '/'; absent without one
  std::string query;                    // raw, without the '?'
};

// Parses `text`. On failure returns nullopt and sets `error` to what was wrong.
std::optional<Uri> parse_uri(std::string_view text, std::string& error);

// Decodes %XX escapes. Returns false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

// The URI as given, with the password of its userinfo and any password=... query
// parameter replaced by "****". Text that is not a URI is returned unchanged.
std::string mask_uri_password(std::string_view text);

}  // namespace pgep
