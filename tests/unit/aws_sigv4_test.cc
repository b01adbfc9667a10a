// AWS Signature Version 4 (workers/aws_sigv4.h): AWS's own test-suite vector, and a request of the
// kind pgep sends (a port, a path encoded twice, a session token) signed by botocore 1.29.
#include <catch2/catch.hpp>

#include "workers/aws_sigv4.h"

namespace {

std::string authorization(const std::vector<std::string>& headers) {
  for (const std::string& header : headers) {
    if (header.rfind("Authorization: ", 0) == 0) return header.substr(15);
  }
  return "";
}

}  // namespace

TEST_CASE("SigV4: AWS's get-vanilla vector") {
  pgep::AwsRequest request;
  request.method = "GET";
  request.host = "example.amazonaws.com";
  request.path = "/";
  pgep::AwsCredentials credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  auto headers = pgep::sigv4_headers(request, credentials, "us-east-1", "service", 1440938160);
  CHECK(authorization(headers) ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  CHECK(std::find(headers.begin(), headers.end(), "X-Amz-Date: 20150830T123600Z") != headers.end());
}

TEST_CASE("SigV4: a Lambda invocation on a non-default port with a session token, as botocore signs it") {
  pgep::AwsRequest request;
  request.host = "127.0.0.1:4566";
  request.path = "/2015-03-31/functions/" + pgep::aws_uri_encode("arn:aws:lambda:eu-west-1:1:function:f") + "/invocations";
  request.headers = {{"X-Amz-Invocation-Type", "Event"}, {"Content-Type", "application/json"}};
  request.body = R"({"a": 1})";
  pgep::AwsCredentials credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "TOKEN"};
  auto headers = pgep::sigv4_headers(request, credentials, "eu-west-1", "lambda", 1795860900);
  CHECK(authorization(headers) ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/eu-west-1/lambda/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token, "
        "Signature=0b0487762ebd96465fa88495da6353d2b193be98cbee972fc3eef2e733b676b2");
  CHECK(std::find(headers.begin(), headers.end(), "X-Amz-Security-Token: TOKEN") != headers.end());
}

TEST_CASE("aws_uri_encode keeps only the unreserved characters") {
  CHECK(pgep::aws_uri_encode("a b/c~d_e.f-g+h=é") == "a%20b%2Fc~d_e.f-g%2Bh%3D%C3%A9");
  CHECK(pgep::aws_uri_encode("/a b/c", true) == "/a%20b/c");
}
