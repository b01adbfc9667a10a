#include "workers/aws_sigv4.h"

#include <algorithm>
#include <cctype>

#include "workers/digest.h"

namespace pgep {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A header value as it is signed: trimmed, with runs of spaces made one.
std::string canonical_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The query's parameters sorted by name, then value, each encoded once (they arrive encoded:
// decoding is not needed because pgep writes them with aws_uri_encode already).
std::string canonical_query(std::string_view query) {
  std::vector<std::string> parts;
  for (size_t start = 0; start < query.size();) {
    size_t end = std::min(query.find('&', start), query.size());
    std::string part(query.substr(start, end - start));
    if (part.find('=') == std::string::npos) part += '=';
    if (part != "=") parts.push_back(part);
    start = end + 1;
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : "&") + part;
  return out;
}

// X-Amz-Date's form, 20261128T101500Z.
std::string amz_date_of(std::time_t now) {
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  size_t length = std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &parts);
  return std::string(text, length);
}

}  // namespace

std::string aws_uri_encode(std::string_view text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::vector<std::string> sigv4_headers(const AwsRequest& request, const AwsCredentials& credentials,
                                       const std::string& region, const std::string& service, std::time_t now) {
  std::string amz_date = amz_date_of(now);
  std::string date = amz_date.substr(0, 8);

  std::vector<std::pair<std::string, std::string>> headers = request.headers;
  headers.emplace_back("Host", request.host);
  headers.emplace_back("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty()) headers.emplace_back("X-Amz-Security-Token", credentials.session_token);

  std::vector<std::pair<std::string, std::string>> signed_headers;
  for (const auto& [name, value] : headers) signed_headers.emplace_back(lower(name), canonical_value(value));
  std::sort(signed_headers.begin(), signed_headers.end());
  std::string canonical_headers;
  std::string signed_names;
  for (const auto& [name, value] : signed_headers) {
    canonical_headers += name + ":" + value + "\n";
    signed_names += (signed_names.empty() ? "" : ";") + name;
  }

  // Paths are encoded twice for every service but S3: once as sent, once more here.
  std::string canonical_request = request.method + "\n" + aws_uri_encode(request.path, /*keep_slash=*/true) + "\n" +
                                  canonical_query(request.query) + "\n" + canonical_headers + "\n" + signed_names +
                                  "\n" + hex(sha256(request.body));
  std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  std::string string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + hex(sha256(canonical_request));

  std::string key = hmac_sha256("AWS4" + credentials.secret_access_key, date);
  key = hmac_sha256(key, region);
  key = hmac_sha256(key, service);
  key = hmac_sha256(key, "aws4_request");
  std::string signature = hex(hmac_sha256(key, string_to_sign));

  std::vector<std::string> out;
  for (const auto& [name, value] : headers) out.push_back(name + ": " + value);
  out.push_back("Authorization: AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                ", SignedHeaders=" + signed_names + ", Signature=" + signature);
  return out;
}

}  // namespace pgep
