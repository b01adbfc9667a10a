#include "supervisor/sources/pg_type_names.h"

#include <cctype>

namespace pgep {

namespace {

// The built-in types whose typmod format_type renders, by OID (pg_type.dat).
constexpr uint32_t kBit = 1560, kVarbit = 1562, kBpchar = 1042, kVarchar = 1043, kNumeric = 1700, kTime = 1083,
                   kTimetz = 1266, kTimestamp = 1114, kTimestamptz = 1184, kInterval = 1186;
constexpr int32_t kVarHeader = 4;  // VARHDRSZ, added to character and numeric typmods

// intervaltypmodout's words for the fields of an interval typmod (INTERVAL_MASK bits).
std::string interval_fields(int32_t typmod) {
  constexpr int kMonth = 1 << 1, kYear = 1 << 2, kDay = 1 << 3, kHour = 1 << 10, kMinute = 1 << 11, kSecond = 1 << 12;
  struct Fields {
    int mask;
    const char* words;
  };
  static const Fields kFields[] = {
      {kYear, " year"}, {kMonth, " month"}, {kDay, " day"}, {kHour, " hour"}, {kMinute, " minute"}, {kSecond, " second"},
      {kYear | kMonth, " year to month"}, {kDay | kHour, " day to hour"}, {kDay | kHour | kMinute, " day to minute"},
      {kDay | kHour | kMinute | kSecond, " day to second"}, {kHour | kMinute, " hour to minute"},
      {kHour | kMinute | kSecond, " hour to second"}, {kMinute | kSecond, " minute to second"},
  };
  int range = (typmod >> 16) & 0x7FFF;
  for (const Fields& fields : kFields) {
    if (fields.mask == range) return fields.words;
  }
  return "";  // the full range, or one PostgreSQL would not make
}

bool plain_identifier(const std::string& name) {
  if (name.empty() || !(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

// quote_identifier, without the keyword list: names pgep cannot tell from keywords stay plain.
std::string quoted(const std::string& name) {
  if (plain_identifier(name)) return name;
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

const char* PgTypeNames::catalog_query() {
  // An array is what format_type prints with []: an element type, variable length, not plain
  // storage (int2vector and oidvector are not).
  return "SELECT t.oid, format_type(t.oid, -1), "
         "CASE WHEN t.typelem <> 0 AND t.typlen = -1 AND t.typstorage <> 'p' THEN t.typelem ELSE 0 END, "
         "t.typbasetype, t.typtypmod FROM pg_catalog.pg_type t";
}

void PgTypeNames::add_from_stream(uint32_t oid, const std::string& nspname, const std::string& name) {
  if (types_.count(oid)) return;  // the catalog's name says what format_type says
  PgTypeInfo info;
  bool visible = nspname.empty() || nspname == "public" || nspname == "pg_catalog";
  info.name = (visible ? "" : quoted(nspname) + ".") + quoted(name);
  types_[oid] = std::move(info);
}

std::string PgTypeNames::name(uint32_t oid, int32_t typmod, bool domain_base) const {
  auto found = types_.find(oid);
  if (found == types_.end()) return "oid " + std::to_string(oid);
  if (domain_base && found->second.base != 0) return with_typmod(found->second.base, found->second.base_typmod);
  return with_typmod(oid, typmod);
}

std::string PgTypeNames::with_typmod(uint32_t oid, int32_t typmod) const {
  auto found = types_.find(oid);
  if (found == types_.end()) return "oid " + std::to_string(oid);
  const PgTypeInfo& type = found->second;
  if (typmod < 0) return type.name;
  if (type.element != 0) return with_typmod(type.element, typmod) + "[]";
  std::string n = std::to_string(typmod);
  switch (oid) {
    case kBit: return "bit(" + n + ")";
    case kVarbit: return "bit varying(" + n + ")";
    case kBpchar: return "character(" + std::to_string(typmod - kVarHeader) + ")";
    case kVarchar: return "character varying(" + std::to_string(typmod - kVarHeader) + ")";
    case kNumeric: {
      int32_t bits = typmod - kVarHeader;
      int32_t scale = ((bits & 0x7ff) ^ 1024) - 1024;  // PostgreSQL 15 allows a negative scale
      return "numeric(" + std::to_string((bits >> 16) & 0xffff) + "," + std::to_string(scale) + ")";
    }
    case kTime: return "time(" + n + ") without time zone";
    case kTimetz: return "time(" + n + ") with time zone";
    case kTimestamp: return "timestamp(" + n + ") without time zone";
    case kTimestamptz: return "timestamp(" + n + ") with time zone";
    case kInterval: {
      int32_t precision = typmod & 0xFFFF;
      return "interval" + interval_fields(typmod) + (precision == 0xFFFF ? "" : "(" + std::to_string(precision) + ")");
    }
    default: return type.name;  // an extension's typmod: its typmodout is not known here
  }
}

}  // namespace pgep
