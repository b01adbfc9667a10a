// AWS Signature Version 4 (docs.aws.amazon.com, "Create a signed AWS API request"), written here
// rather than taken from libcurl: curl 7.88's CURLOPT_AWS_SIGV4 signs a Host without the port
// of an endpoint on a non-default port (LocalStack's 4566, a test's), which AWS then refuses.
//
// What is signed: the method, the path as sent, the query, every header the request sends (Host
// with its port when it is not the scheme's default, X-Amz-Date, X-Amz-Security-Token with a
// session token) and the SHA-256 of the body.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgep {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none (long-term keys)
};

struct AwsRequest {
  std::string method = "POST";
  std::string host;   // as the Host header says it: host, or host:port
  std::string path;   // as sent, percent-encoded already; "/" at least
  std::string query;  // as sent, or empty
  std::vector<std::pair<std::string, std::string>> headers;  // to send and sign; Host is added
  std::string body;
};

// Every header the request must carry ("Name: value"): its own, Host, X-Amz-Date,
// X-Amz-Security-Token with a session token, and Authorization, signed for `service` in
// `region` at `now`.
std::vector<std::string> sigv4_headers(const AwsRequest& request, const AwsCredentials& credentials,
                                       const std::string& region, const std::string& service, std::time_t now);

// RFC 3986 percent-encoding of all but the unreserved characters (A-Z a-z 0-9 - _ . ~), and
// of '/' unless `keep_slash`: AWS's UriEncode, for paths, queries and form bodies alike.
std::string aws_uri_encode(std::string_view text, bool keep_slash = false);

}  // namespace pgep
