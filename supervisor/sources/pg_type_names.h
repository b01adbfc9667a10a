// Column type names as wal2json writes them ("include-types"): PostgreSQL's
// format_type_with_typemod(type, typmod). The names come from the catalog, read once per
// connection (`SELECT ... format_type(oid, -1) FROM pg_type`), and from pgoutput's Type messages
// for types made since; the typmod is rendered here for the built-in types that have one
// (character varying(n), numeric(p,s), timestamp(p) ..., and their arrays), as
// PostgreSQL's own typmodout functions do.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace pgep {

struct PgTypeInfo {
  std::string name;          // format_type(oid, -1): "integer", "character varying", "public.mood"
  uint32_t element = 0;      // an array's element type, else 0
  uint32_t base = 0;         // a domain's base type, else 0
  int32_t base_typmod = -1;  // a domain's typmod of its base type
};

class PgTypeNames {
 public:
  // The SQL that reads what add_from_catalog() takes, one row per type:
  // oid, name, array element (or 0), domain base (or 0), domain typmod.
  static const char* catalog_query();
  void add_from_catalog(uint32_t oid, PgTypeInfo info) { types_[oid] = std::move(info); }
  // A pgoutput Type message (a type made after the catalog was read, or not built in).
  void add_from_stream(uint32_t oid, const std::string& nspname, const std::string& name);
  bool empty() const { return types_.empty(); }

  // format_type_with_typemod(oid, typmod); a domain's base type instead with `domain_base`
  // ("include-domain-data-type"). An unknown type is named by its OID ("oid 12345").
  std::string name(uint32_t oid, int32_t typmod, bool domain_base) const;

 private:
  std::string with_typmod(uint32_t oid, int32_t typmod) const;
  std::unordered_map<uint32_t, PgTypeInfo> types_;
};

}  // namespace pgep
