// What pgep reads of the XML answers of AWS's query APIs (SNS, SQS): an error's code and
// message, and a batch's entries (by their Id) that succeeded or failed. libxml2 parses; no
// DTD, entity or network access is allowed to an answer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgep {

struct AwsBatchFailure {
  std::string id;
  std::string code;
  std::string message;
  bool sender_fault = true;  // the entry itself is at fault, not the service
};

struct AwsXmlAnswer {
  bool parsed = false;
  std::string error_code;     // <Error><Code>
  std::string error_message;  // <Error><Message>
  std::vector<std::string> succeeded;    // SNS Successful/member, SQS SendMessageBatchResultEntry: their Id
  std::vector<AwsBatchFailure> failed;   // SNS Failed/member, SQS BatchResultErrorEntry
};

AwsXmlAnswer parse_aws_xml(std::string_view body);

}  // namespace pgep
