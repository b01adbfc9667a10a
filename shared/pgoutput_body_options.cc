#include "shared/pgoutput_body_options.h"

#include <algorithm>
#include <cctype>

#include "shared/values.h"

namespace pgep {

namespace {

// PostgreSQL's parse_bool, which wal2json uses: a unique prefix of true, false, yes, no, on,
// off (at least "of"), or 1 and 0.
std::optional<bool> pg_bool(const std::string& given) {
  std::string value = to_lower(given);
  if (value.empty()) return std::nullopt;
  auto prefix_of = [&](const char* word) { return std::string_view(word).substr(0, value.size()) == value; };
  if (value == "1") return true;
  if (value == "0") return false;
  if (prefix_of("true") || prefix_of("yes")) return true;
  if (prefix_of("false") || (value.size() > 1 && prefix_of("no"))) return false;
  if (value.size() >= 2 && prefix_of("on")) return true;
  if (value.size() >= 2 && prefix_of("off")) return false;
  if (value == "n") return false;
  return std::nullopt;
}

// wal2json's lists: separated by commas, blanks around each element ignored, a backslash
// escapes the next character (kept, for table patterns to read).
std::optional<std::vector<std::string>> split_list(const std::string& text) {
  std::vector<std::string> items;
  size_t at = 0;
  auto skip_blanks = [&] {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
  };
  skip_blanks();
  if (at == text.size()) return items;
  for (;;) {
    size_t start = at;
    while (at < text.size() && text[at] != ',' && !std::isspace(static_cast<unsigned char>(text[at]))) {
      if (text[at] == '\\') ++at;
      ++at;
    }
    if (at == start) return std::nullopt;
    items.push_back(text.substr(start, std::min(at, text.size()) - start));
    skip_blanks();
    if (at >= text.size()) return items;
    if (text[at] != ',') return std::nullopt;
    ++at;
    skip_blanks();
  }
}

std::string unescaped(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) ++i;
    out += text[i];
  }
  return out;
}

// schema.table, as wal2json reads it: "*." any schema, ".*" any table, "\." a dot in a name.
std::optional<TablePattern> table_pattern(const std::string& item) {
  size_t dot = 0;
  while (dot < item.size() && item[dot] != '.') dot += item[dot] == '\\' ? 2 : 1;
  if (dot >= item.size()) return std::nullopt;
  TablePattern pattern;
  std::string schema = item.substr(0, dot), table = item.substr(dot + 1);
  pattern.schema = schema == "*" ? "" : unescaped(schema);
  pattern.table = table == "*" ? "" : unescaped(table);
  return pattern;
}

std::optional<std::vector<TablePattern>> table_patterns(const std::string& value) {
  std::optional<std::vector<std::string>> items = split_list(value);
  if (!items) return std::nullopt;
  std::vector<TablePattern> patterns;
  for (const std::string& item : *items) {
    std::optional<TablePattern> pattern = table_pattern(item);
    if (!pattern) return std::nullopt;
    patterns.push_back(*pattern);
  }
  return patterns;
}

// Options wal2json has that pgoutput cannot serve, and why.
const char* unsupported(const std::string& name) {
  if (name == "include-origin" || name == "filter-origins") return "pgoutput names an origin, not its id";
  if (name == "include-not-null") return "pgoutput does not send whether a column is NOT NULL";
  if (name == "include-default") return "pgoutput does not send column defaults";
  if (name == "include-column-positions") return "pgoutput does not send column numbers";
  if (name == "include-unchanged-toast") return "wal2json 2.5 ignores it too; pgep says which columns are unchanged";
  if (name == "pretty-print" || name == "write-in-chunks") return "it applies to wal2json format 1 only";
  return nullptr;
}

bool set_flag(PgoutputBodyOptions& options, const std::string& name, bool value) {
  struct Flag {
    const char* name;
    bool PgoutputBodyOptions::*member;
  };
  static const Flag kFlags[] = {
      {"include-transaction", &PgoutputBodyOptions::include_transaction},
      {"include-xids", &PgoutputBodyOptions::include_xids},
      {"include-timestamp", &PgoutputBodyOptions::include_timestamp},
      {"include-lsn", &PgoutputBodyOptions::include_lsn},
      {"include-schemas", &PgoutputBodyOptions::include_schemas},
      {"include-types", &PgoutputBodyOptions::include_types},
      {"include-type-oids", &PgoutputBodyOptions::include_type_oids},
      {"include-domain-data-type", &PgoutputBodyOptions::include_domain_data_type},
      {"include-pk", &PgoutputBodyOptions::include_pk},
      {"include-typmod", nullptr},  // wal2json format 2 ignores it
  };
  for (const Flag& flag : kFlags) {
    if (name != flag.name) continue;
    if (flag.member) options.*flag.member = value;
    return true;
  }
  return false;
}

bool set_actions(PgoutputBodyOptions& options, const std::string& value) {
  std::optional<std::vector<std::string>> actions = split_list(value);
  if (!actions) return false;
  options.insert = options.update = options.del = options.truncate = false;
  for (const std::string& action : *actions) {
    if (action == "insert") options.insert = true;
    else if (action == "update") options.update = true;
    else if (action == "delete") options.del = true;
    else if (action == "truncate") options.truncate = true;
    else return false;
  }
  return true;
}

bool set_list(PgoutputBodyOptions& options, const std::string& name, const std::string& value) {
  if (name == "filter-tables" || name == "add-tables") {
    std::optional<std::vector<TablePattern>> patterns = table_patterns(value);
    if (!patterns) return false;
    (name == "filter-tables" ? options.filter_tables : options.add_tables) = *patterns;
    return true;
  }
  std::optional<std::vector<std::string>> prefixes = split_list(value);
  if (!prefixes) return false;
  for (std::string& prefix : *prefixes) prefix = unescaped(prefix);
  (name == "filter-msg-prefixes" ? options.filter_msg_prefixes : options.add_msg_prefixes) = *prefixes;
  return true;
}

}  // namespace

bool TablePattern::matches(const std::string& schema_name, const std::string& table_name) const {
  return (schema.empty() || schema == schema_name) && (table.empty() || table == table_name);
}

bool PgoutputBodyOptions::wants_table(const std::string& schema, const std::string& table) const {
  for (const TablePattern& pattern : filter_tables) {
    if (pattern.matches(schema, table)) return false;
  }
  if (add_tables.empty()) return true;
  return std::any_of(add_tables.begin(), add_tables.end(),
                     [&](const TablePattern& pattern) { return pattern.matches(schema, table); });
}

bool PgoutputBodyOptions::wants_message(const std::string& prefix) const {
  if (std::find(filter_msg_prefixes.begin(), filter_msg_prefixes.end(), prefix) != filter_msg_prefixes.end()) {
    return false;
  }
  return add_msg_prefixes.empty() ||
         std::find(add_msg_prefixes.begin(), add_msg_prefixes.end(), prefix) != add_msg_prefixes.end();
}

std::optional<PgoutputBodyOptions> pgoutput_body_options(const std::vector<Wal2jsonParam>& params, std::string& error) {
  PgoutputBodyOptions options;
  for (const Wal2jsonParam& param : params) {
    const std::string& name = param.name;
    if (name == "format-version") continue;  // 2, checked by the loader
    if (const char* why = unsupported(name)) {
      error = "\"" + name + "\" cannot be used with output_plugin = pgoutput: " + why;
      return std::nullopt;
    }
    bool ok;
    if (name == "actions") {
      ok = set_actions(options, param.value);
    } else if (name == "filter-tables" || name == "add-tables" || name == "filter-msg-prefixes" ||
               name == "add-msg-prefixes") {
      ok = set_list(options, name, param.value);
    } else {
      std::optional<bool> flag = pg_bool(param.value);
      if (!flag || !set_flag(options, name, *flag)) {
        error = flag ? "\"" + name + "\" is not a wal2json 2.5 option" :
                       "\"" + name + "\" = '" + param.value + "' is not a boolean (true, false, on, off, 1, 0)";
        return std::nullopt;
      }
      ok = true;
    }
    if (!ok) {
      error = "\"" + name + "\" = '" + param.value + "' cannot be read as wal2json reads it";
      return std::nullopt;
    }
  }
  return options;
}

}  // namespace pgep
