#include "workers/aws_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>
#include <memory>

namespace pgep {

namespace {

bool named(const xmlNode* node, const char* name) {
  return node && node->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(node->name), name) == 0;
}

// The text of the child element `name` of `node`, or "".
std::string child_text(const xmlNode* node, const char* name) {
  for (const xmlNode* child = node->children; child; child = child->next) {
    if (!named(child, name)) continue;
    std::unique_ptr<xmlChar, decltype(xmlFree)> text(xmlNodeGetContent(child), xmlFree);
    return text ? std::string(reinterpret_cast<const char*>(text.get())) : std::string();
  }
  return "";
}

void walk(const xmlNode* node, AwsXmlAnswer& answer) {
  for (; node; node = node->next) {
    if (node->type != XML_ELEMENT_NODE) continue;
    const xmlNode* parent = node->parent;
    if (named(node, "Error") && answer.error_code.empty()) {
      answer.error_code = child_text(node, "Code");
      answer.error_message = child_text(node, "Message");
    } else if ((named(node, "member") && named(parent, "Successful")) || named(node, "SendMessageBatchResultEntry")) {
      answer.succeeded.push_back(child_text(node, "Id"));
      continue;
    } else if ((named(node, "member") && named(parent, "Failed")) || named(node, "BatchResultErrorEntry")) {
      answer.failed.push_back(AwsBatchFailure{child_text(node, "Id"), child_text(node, "Code"),
                                              child_text(node, "Message"), child_text(node, "SenderFault") != "false"});
      continue;
    }
    walk(node->children, answer);
  }
}

}  // namespace

AwsXmlAnswer parse_aws_xml(std::string_view body) {
  AwsXmlAnswer answer;
  if (body.empty()) return answer;
  xmlDocPtr raw = xmlReadMemory(body.data(), static_cast<int>(body.size()), "answer.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> document(raw, &xmlFreeDoc);
  if (!document) return answer;
  answer.parsed = true;
  walk(xmlDocGetRootElement(document.get()), answer);
  return answer;
}

}  // namespace pgep
