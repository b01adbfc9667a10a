#include "supervisor/sources/wal_record.h"

#include <simdjson.h>

namespace pgep {

struct WalRecordParser::Impl {
  simdjson::ondemand::parser parser;
  std::string buffer;  // the message plus simdjson's padding
};

WalRecordParser::WalRecordParser() : impl_(std::make_unique<Impl>()) {}
WalRecordParser::~WalRecordParser() = default;

namespace {

constexpr const char* kUnknownKey = "unknown";
// A message this large is routed by its head: wal2json writes "action", "schema" and "table"
// (and a message's "prefix") before the columns, the identity and the content, which hold its
// size. Indexing the whole of a 50 MB row to read three short fields costs a copy of it and
// simdjson's index of it; the head, closed with '}', is a small document of its own.
constexpr size_t kHeadFrom = 64 * 1024;
constexpr size_t kHeadSearch = 16 * 1024;
// Buffers grown past this by one large message are given back afterwards.
constexpr size_t kKeptCapacity = 1 << 20;

// The head of a large format 2 record, as a closed object, or "" when there is none to take.
std::string head_of(std::string_view json) {
  if (json.size() < kHeadFrom) return "";
  std::string_view start = json.substr(0, kHeadSearch);
  size_t end = std::string_view::npos;
  // A quote inside a JSON string is always escaped, so these only match between fields.
  for (std::string_view marker : {",\"columns\":", ",\"identity\":", ",\"content\":"}) {
    end = std::min(end, start.find(marker));
  }
  if (end == std::string_view::npos) return "";
  std::string head(json.substr(0, end));
  head += '}';
  return head;
}

const char* action_word(char action) {
  switch (action) {
    case 'I': return "insert";
    case 'U': return "update";
    case 'D': return "delete";
    case 'T': return "truncate";
    default: return nullptr;
  }
}

}  // namespace

WalRecord WalRecordParser::parse(std::string_view json, int format_version, std::string& problem) {
  problem.clear();
  WalRecord record;
  if (format_version == 1) {
    record.routing_key = "transaction";
    record.begins = record.commits = true;
    return record;
  }
  std::string head = head_of(json);
  if (!head.empty()) {
    WalRecord by_head = parse_object(head, problem);
    if (problem.empty()) return by_head;
    problem.clear();  // not what a head should be: the whole message decides
  }
  WalRecord whole = parse_object(json, problem);
  if (impl_->buffer.capacity() > kKeptCapacity) std::string().swap(impl_->buffer);
  if (impl_->parser.capacity() > kKeptCapacity) impl_->parser = simdjson::ondemand::parser();
  return whole;
}

WalRecord WalRecordParser::parse_object(std::string_view json, std::string& problem) {
  WalRecord record;
  std::string& buffer = impl_->buffer;
  buffer.assign(json.data(), json.size());
  buffer.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  simdjson::padded_string_view view(buffer.data(), json.size(), buffer.capacity());
  simdjson::ondemand::document doc;
  std::string_view action;
  if (impl_->parser.iterate(view).get(doc) || doc.find_field_unordered("action").get_string().get(action) ||
      action.size() != 1) {
    problem = "not a wal2json format 2 object with an \"action\"";
    record.routing_key = kUnknownKey;
    return record;
  }
  char a = action[0];
  if (a == 'B') {
    record.routing_key = "begin";
    record.begins = true;
    return record;
  }
  if (a == 'C') {
    record.routing_key = "commit";
    record.commits = true;
    return record;
  }
  if (a == 'M') {
    std::string_view prefix;
    if (doc.find_field_unordered("prefix").get_string().get(prefix)) prefix = "";
    record.routing_key = "message." + std::string(prefix);
    return record;
  }
  const char* word = action_word(a);
  if (!word) {
    problem = "a wal2json record of unknown action \"" + std::string(action) + "\"";
    record.routing_key = kUnknownKey;
    return record;
  }
  // Fields are looked up in any order; "schema" is absent with "include-schemas" '0'.
  std::string_view schema, table;
  bool has_schema = !doc.find_field_unordered("schema").get_string().get(schema);
  if (doc.find_field_unordered("table").get_string().get(table)) {
    problem = "a wal2json change without a table";
    record.routing_key = kUnknownKey;
    return record;
  }
  record.routing_key.reserve(schema.size() + table.size() + 10);
  if (has_schema) record.routing_key.append(schema).append(".");
  record.routing_key.append(table).append(".").append(word);
  return record;
}

}  // namespace pgep
