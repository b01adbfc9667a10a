#include "supervisor/sources/pgoutput_decoder.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "shared/json_writer.h"
#include "shared/lsn.h"

namespace pgep {

namespace {

// The types wal2json writes unquoted (pg_decode_write_value), by OID.
constexpr uint32_t kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
                   kFloat8 = 701, kNumeric = 1700;

bool is_number_type(uint32_t oid) {
  return oid == kInt2 || oid == kInt4 || oid == kInt8 || oid == kOid || oid == kFloat4 || oid == kFloat8 ||
         oid == kNumeric;
}

bool starts_with_nocase(std::string_view text, std::string_view word) {
  if (text.size() < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(word[i]))) {
      return false;
    }
  }
  return true;
}

// A value as wal2json writes it: numbers bare (NaN and the infinities as null, which JSON lacks),
// booleans as true and false, bytea's hex without its \x, the rest as JSON strings.
void append_value(std::string& out, uint32_t type_oid, const PgoutputValue& value) {
  if (value.kind != 't') {
    out += "null";
    return;
  }
  std::string_view text = value.text;
  if (is_number_type(type_oid)) {
    if (starts_with_nocase(text, "NaN") || starts_with_nocase(text, "Infinity") ||
        starts_with_nocase(text, "-Infinity")) {
      out += "null";
    } else if (!text.empty() && text.find_first_not_of("0123456789+-eE.") == std::string_view::npos) {
      out += text;
    } else {
      append_json_string(out, text);  // wal2json stops with an error here; pgep forwards it quoted
    }
  } else if (type_oid == kBool) {
    out += text == "t" ? "true" : "false";
  } else if (type_oid == kBytea && text.size() >= 2 && text.substr(0, 2) == "\\x") {
    append_json_string(out, text.substr(2));
  } else {
    append_json_string(out, text);
  }
}

// wal2json writes a type name format_type quoted ("My Type") as it is, and escapes the others.
void append_type_name(std::string& out, const std::string& name) {
  if (!name.empty() && name.front() == '"' && name.back() != ']') {
    out += name;
  } else {
    append_json_string(out, name);
  }
}

const char* action_word(PgoutputMessage::Kind kind) {
  switch (kind) {
    case PgoutputMessage::Kind::Insert: return "insert";
    case PgoutputMessage::Kind::Update: return "update";
    case PgoutputMessage::Kind::Delete: return "delete";
    default: return "truncate";
  }
}

const char* action_letter(PgoutputMessage::Kind kind) {
  switch (kind) {
    case PgoutputMessage::Kind::Insert: return "I";
    case PgoutputMessage::Kind::Update: return "U";
    case PgoutputMessage::Kind::Delete: return "D";
    default: return "T";
  }
}

}  // namespace

std::string format_commit_time(int64_t us_since_2000) {
  constexpr int64_t kEpochShift = 946684800;  // 2000-01-01 in Unix seconds
  int64_t seconds = us_since_2000 / 1000000, micros = us_since_2000 % 1000000;
  if (micros < 0) {
    micros += 1000000;
    seconds -= 1;
  }
  time_t unix_seconds = static_cast<time_t>(seconds + kEpochShift);
  std::tm utc{};
  gmtime_r(&unix_seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  std::string out = text;
  if (micros != 0) {
    char fraction[16];
    std::snprintf(fraction, sizeof fraction, ".%06lld", static_cast<long long>(micros));
    std::string f = fraction;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "+00";
}

void PgoutputDecoder::reset() {
  relations_.clear();
  in_transaction_ = false;
}

WalEvent& PgoutputDecoder::next_event(std::vector<WalEvent>& events, size_t& count) {
  if (count == events.size()) events.emplace_back();
  WalEvent& event = events[count++];  // its strings keep their capacity from message to message
  event.record.routing_key.clear();
  event.record.begins = event.record.commits = false;
  event.body.clear();
  return event;
}

bool PgoutputDecoder::decode(std::string_view data, uint64_t wal_start, std::vector<WalEvent>& events, size_t& count,
                             std::string& error) {
  count = 0;
  if (!parse_pgoutput_message(data, message_, error)) return false;
  const PgoutputMessage& m = message_;
  switch (m.kind) {
    case PgoutputMessage::Kind::Begin:
      xid_ = m.xid;
      commit_time_us_ = m.timestamp_us;
      in_transaction_ = true;
      if (options_.include_transaction) write_begin(m, next_event(events, count));
      return true;
    case PgoutputMessage::Kind::Commit:
      in_transaction_ = false;
      if (options_.include_transaction) write_commit(m, next_event(events, count));
      return true;
    case PgoutputMessage::Kind::Origin:
      return true;
    case PgoutputMessage::Kind::Relation:
      remember(m);
      return true;
    case PgoutputMessage::Kind::Type:
      types_.add_from_stream(m.oid, std::string(m.nspname), std::string(m.name));
      return true;
    case PgoutputMessage::Kind::Insert:
    case PgoutputMessage::Kind::Update:
    case PgoutputMessage::Kind::Delete:
      return write_change(m, wal_start, events, count, error);
    case PgoutputMessage::Kind::Truncate:
      return write_truncate(m, wal_start, events, count, error);
    case PgoutputMessage::Kind::Message:
      if (options_.wants_message(std::string(m.prefix))) write_message(m, next_event(events, count));
      return true;
  }
  return true;
}

void PgoutputDecoder::remember(const PgoutputMessage& message) {
  Relation& relation = relations_[message.oid];
  relation.schema = message.nspname.empty() ? "pg_catalog" : std::string(message.nspname);
  relation.table = std::string(message.name);
  relation.identity = message.replica_identity;
  relation.columns = message.columns;
  relation.routing_prefix = (options_.include_schemas ? relation.schema + "." : "") + relation.table + ".";
  relation.wanted = options_.wants_table(relation.schema, relation.table);
}

const PgoutputDecoder::Relation* PgoutputDecoder::relation(uint32_t oid, std::string& error) const {
  auto found = relations_.find(oid);
  if (found == relations_.end()) {
    error = "a change of relation " + std::to_string(oid) + ", which no Relation message described";
    return nullptr;
  }
  return &found->second;
}

void PgoutputDecoder::write_common(std::string& out, bool transactional, uint64_t lsn) const {
  if (options_.include_xids) out += transactional ? ",\"xid\":" + std::to_string(xid_) : ",\"xid\":null";
  if (options_.include_timestamp) {
    out += transactional ? ",\"timestamp\":\"" + format_commit_time(commit_time_us_) + "\"" : ",\"timestamp\":null";
  }
  if (options_.include_lsn) out += ",\"lsn\":\"" + format_lsn(lsn) + "\"";
}

void PgoutputDecoder::write_begin(const PgoutputMessage& message, WalEvent& event) {
  event.record.routing_key = "begin";
  event.record.begins = true;
  std::string& out = event.body;
  out += "{\"action\":\"B\"";
  write_common(out, true, message.lsn);
  // pgoutput's Begin does not know where the commit record ends (wal2json's "nextlsn").
  if (options_.include_lsn) out += ",\"nextlsn\":null";
  out += '}';
}

void PgoutputDecoder::write_commit(const PgoutputMessage& message, WalEvent& event) {
  event.record.routing_key = "commit";
  event.record.commits = true;
  std::string& out = event.body;
  out += "{\"action\":\"C\"";
  write_common(out, true, message.lsn);  // the commit time is the one Begin carried
  if (options_.include_lsn) out += ",\"nextlsn\":\"" + format_lsn(message.end_lsn) + "\"";
  out += '}';
}

void PgoutputDecoder::write_message(const PgoutputMessage& message, WalEvent& event) {
  event.record.routing_key.append("message.").append(message.prefix);
  std::string& out = event.body;
  out += "{\"action\":\"M\"";
  write_common(out, message.transactional, message.lsn);
  out += message.transactional ? ",\"transactional\":true" : ",\"transactional\":false";
  out += ",\"prefix\":";
  append_json_string(out, message.prefix);
  out += ",\"content\":";
  // wal2json copies the content as a C string: it ends at the first NUL.
  std::string_view content = message.content.substr(0, message.content.find('\0'));
  append_json_string(out, content);
  out += '}';
}

void PgoutputDecoder::write_table(std::string& out, const Relation& relation) const {
  if (options_.include_schemas) {
    out += ",\"schema\":";
    append_json_string(out, relation.schema);
  }
  out += ",\"table\":";
  append_json_string(out, relation.table);
}

bool PgoutputDecoder::write_change(const PgoutputMessage& message, uint64_t wal_start, std::vector<WalEvent>& events,
                                   size_t& count, std::string& error) {
  const Relation* rel = relation(message.oid, error);
  if (!rel) return false;
  for (const std::vector<PgoutputValue>* tuple : {&message.old_values, &message.new_values}) {
    if (!tuple->empty() && tuple->size() != rel->columns.size()) {
      error = std::string("a change of ") + rel->schema + "." + rel->table + " with " + std::to_string(tuple->size()) +
              " column(s), where its Relation message had " + std::to_string(rel->columns.size());
      return false;
    }
  }
  bool wanted_action = message.kind == PgoutputMessage::Kind::Insert   ? options_.insert
                       : message.kind == PgoutputMessage::Kind::Update ? options_.update
                                                                       : options_.del;
  if (!rel->wanted || !wanted_action) return true;
  bool has_key = false;
  for (const PgoutputColumn& column : rel->columns) has_key = has_key || column.key;
  // wal2json leaves out an update it cannot identify (no replica identity), with a warning.
  if (message.kind == PgoutputMessage::Kind::Update && message.old_kind == 0 && !has_key && rel->identity != 'f') {
    return true;
  }
  WalEvent& event = next_event(events, count);
  event.record.routing_key.append(rel->routing_prefix).append(action_word(message.kind));
  std::string& out = event.body;
  out.append("{\"action\":\"").append(action_letter(message.kind)).append("\"");
  write_common(out, true, wal_start);
  write_table(out, *rel);
  if (message.kind != PgoutputMessage::Kind::Delete) {
    out += ",\"columns\":[";
    write_tuple(out, *rel, message.new_values, TupleKind::Change);
    out += ']';
  }
  if (message.kind != PgoutputMessage::Kind::Insert) write_identity(out, message, *rel);
  if (options_.include_pk) {
    out += ",\"pk\":[";
    // pgoutput names the replica identity's columns; under REPLICA IDENTITY DEFAULT they are
    // the primary key's. Under another identity pgep cannot tell the key (docs/pgoutput.md).
    if (rel->identity == 'd') {
      write_tuple(out, *rel, message.old_kind ? message.old_values : message.new_values, TupleKind::PrimaryKey);
    }
    out += ']';
  }
  if (message.kind != PgoutputMessage::Kind::Delete) write_unchanged(out, *rel, message.new_values);
  out += '}';
  return true;
}

// The old row's identity: the key columns pgoutput sent ('K'), every column (REPLICA IDENTITY
// FULL, 'O'), or, when the key did not change, the key columns of the new row.
void PgoutputDecoder::write_identity(std::string& out, const PgoutputMessage& message, const Relation& relation) const {
  const std::vector<PgoutputValue>* tuple = message.old_kind ? &message.old_values : &message.new_values;
  if (tuple->empty()) return;
  out += ",\"identity\":[";
  write_tuple(out, relation, *tuple, TupleKind::Identity);
  out += ']';
}

void PgoutputDecoder::write_tuple(std::string& out, const Relation& relation, const std::vector<PgoutputValue>& values,
                                  TupleKind kind) const {
  bool first = true;
  for (size_t i = 0; i < values.size(); ++i) {
    const PgoutputColumn& column = relation.columns[i];
    if (kind != TupleKind::Change && !column.key && relation.identity != 'f') continue;
    if (kind == TupleKind::PrimaryKey && !column.key) continue;
    if (values[i].kind == 'u') continue;  // unchanged and TOASTed: not sent, so not written
    if (!first) out += ',';
    first = false;
    out += "{\"name\":";
    append_json_string(out, column.name);
    if (options_.include_types) {
      out += ",\"type\":";
      append_type_name(out, types_.name(column.type_oid, column.typmod, options_.include_domain_data_type));
    }
    if (options_.include_type_oids) out += ",\"typeoid\":" + std::to_string(column.type_oid);
    if (kind != TupleKind::PrimaryKey) {
      out += ",\"value\":";
      append_value(out, column.type_oid, values[i]);
    }
    out += '}';
  }
}

// What pgoutput knows and wal2json does not say: the columns left out because their value is
// unchanged and stored out of line (TOAST). Written only when there are some.
void PgoutputDecoder::write_unchanged(std::string& out, const Relation& relation,
                                      const std::vector<PgoutputValue>& values) const {
  bool any = false;
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].kind != 'u') continue;
    out += any ? "," : ",\"unchanged\":[";
    any = true;
    append_json_string(out, relation.columns[i].name);
  }
  if (any) out += ']';
}

bool PgoutputDecoder::write_truncate(const PgoutputMessage& message, uint64_t wal_start, std::vector<WalEvent>& events,
                                     size_t& count, std::string& error) {
  for (uint32_t oid : message.relations) {
    const Relation* rel = relation(oid, error);
    if (!rel) return false;
    if (!rel->wanted || !options_.truncate) continue;
    WalEvent& event = next_event(events, count);
    event.record.routing_key.append(rel->routing_prefix).append("truncate");
    event.body += "{\"action\":\"T\"";
    write_common(event.body, true, wal_start);
    write_table(event.body, *rel);
    event.body += '}';
  }
  return true;
}

}  // namespace pgep
