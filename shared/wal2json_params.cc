#include "shared/wal2json_params.h"

#include <cctype>

namespace pgep {

namespace {

class ParamReader {
 public:
  explicit ParamReader(std::string_view text) : text_(text) {}

  bool at_end() {
    skip_space();
    return pos_ >= text_.size();
  }

  // A name: "double-quoted" (or \"escaped\"), or a bare word of letters, digits, '-' and '_'.
  bool name(std::string& out, std::string& error) {
    skip_space();
    out.clear();
    bool escaped = text_.substr(pos_, 2) == "\\\"";
    if (escaped || peek() == '"') {
      pos_ += escaped ? 2 : 1;
      while (pos_ < text_.size()) {
        if (escaped && text_.substr(pos_, 2) == "\\\"") {
          pos_ += 2;
          return check_name(out, error);
        }
        if (!escaped && text_[pos_] == '"') {
          if (peek(1) == '"') {  // "" inside a quoted identifier is one "
            out.push_back('"');
            pos_ += 2;
            continue;
          }
          ++pos_;
          return check_name(out, error);
        }
        out.push_back(text_[pos_++]);
      }
      return fail(error, "an option name's quote is not closed");
    }
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '-' || text_[pos_] == '_')) {
      out.push_back(text_[pos_++]);
    }
    return out.empty() ? fail(error, "expected an option name such as \"format-version\"")
                       : true;
  }

  // A value: 'single-quoted', with '' standing for one quote.
  bool value(std::string& out, std::string& error) {
    skip_space();
    out.clear();
    if (peek() != '\'') return fail(error, "expected a 'quoted' value");
    ++pos_;
    while (pos_ < text_.size()) {
      if (text_[pos_] == '\'') {
        if (peek(1) == '\'') {
          out.push_back('\'');
          pos_ += 2;
          continue;
        }
        ++pos_;
        return true;
      }
      out.push_back(text_[pos_++]);
    }
    return fail(error, "a value's quote is not closed");
  }

  // Between two options: a ',' or the end.
  bool separator(std::string& error) {
    if (at_end()) return true;
    if (text_[pos_] != ',') return fail(error, "expected ',' between options");
    ++pos_;
    if (at_end()) return fail(error, "expected an option after ','");
    return true;
  }

 private:
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool check_name(const std::string& name, std::string& error) {
    return name.empty() ? fail(error, "an option name is empty") : true;
  }
  bool fail(std::string& error, const std::string& what) {
    error = what + " at byte " + std::to_string(pos_ + 1);
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::vector<Wal2jsonParam>> parse_wal2json_params(std::string_view text,
                                                                std::string& error) {
  std::vector<Wal2jsonParam> params;
  ParamReader reader(text);
  while (!reader.at_end()) {
    Wal2jsonParam param;
    if (!reader.name(param.name, error) || !reader.value(param.value, error) ||
        !reader.separator(error)) {
      return std::nullopt;
    }
    for (const Wal2jsonParam& seen : params) {
      if (seen.name == param.name) {
        error = "option \"" + param.name + "\" is given twice";
        return std::nullopt;
      }
    }
    params.push_back(std::move(param));
  }
  return check_wal2json_params(params, error) ? std::optional(params) : std::nullopt;
}

namespace {

const Wal2jsonParam* find_param(const std::vector<Wal2jsonParam>& params, std::string_view name) {
  for (const Wal2jsonParam& p : params) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// wal2json's booleans are PostgreSQL's: true/false, on/off, yes/no, 1/0, any case.
bool is_true(std::string value) {
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value == "1" || value == "t" || value == "true" || value == "on" || value == "y" || value == "yes";
}

}  // namespace

// Options that would break the stream pgep reads are refused here, where pgep -t sees them.
bool check_wal2json_params(const std::vector<Wal2jsonParam>& params, std::string& error) {
  if (!find_param(params, "format-version")) {
    error = "\"format-version\" is missing: without it wal2json writes format 1, one message per whole transaction "
            "(a large transaction becomes one large message); give \"format-version\" '2' (pgep's default), or '1' on "
            "purpose";
    return false;
  }
  int version = wal2json_format_version(params);
  if (version != 1 && version != 2) {
    error = "\"format-version\" must be '1' or '2'";
    return false;
  }
  const Wal2jsonParam* chunks = find_param(params, "write-in-chunks");
  if (version == 1 && chunks && is_true(chunks->value)) {
    error = "\"write-in-chunks\" with format 1 splits a transaction's one message into pieces that are not JSON "
            "on their own, and pgep would forward each piece as a message; drop it, or use \"format-version\" '2'";
    return false;
  }
  return true;
}

std::string format_wal2json_params(const std::vector<Wal2jsonParam>& params) {
  std::string out;
  for (const Wal2jsonParam& p : params) {
    if (!out.empty()) out += ", ";
    out += '"';
    for (char c : p.name) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
    out += "\" '";
    for (char c : p.value) out += (c == '\'') ? std::string("''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::vector<Wal2jsonParam> without_own_tables(std::vector<Wal2jsonParam> params) {
  for (Wal2jsonParam& param : params) {
    if (param.name != "filter-tables") continue;
    param.value += (param.value.empty() ? "" : ",") + std::string(kDeadLettersTable);
    return params;
  }
  params.push_back({"filter-tables", std::string(kDeadLettersTable)});
  return params;
}

int wal2json_format_version(const std::vector<Wal2jsonParam>& params) {
  for (const Wal2jsonParam& p : params) {
    if (p.name == "format-version") {
      if (p.value == "1") return 1;
      if (p.value == "2") return 2;
      return 0;
    }
  }
  return 1;
}

}  // namespace pgep
