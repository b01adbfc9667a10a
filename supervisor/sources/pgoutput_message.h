// The byte layout of pgoutput's messages, as PostgreSQL's "Logical Replication Message
// Formats" documents them (big-endian integers, NUL-terminated strings), protocol versions 1 to
// 4 without streaming or two-phase (pgep asks for neither). This file is the only code that
// knows them; it trusts no length and no count: a message that does not fit its bytes is an
// error that says where.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgep {

// One column of a tuple: 'n' null, 'u' unchanged TOASTed value (not sent), 't' text.
struct PgoutputValue {
  char kind = 'n';
  std::string_view text;
};

struct PgoutputColumn {
  bool key = false;  // part of the replica identity
  std::string name;
  uint32_t type_oid = 0;
  int32_t typmod = -1;
};

struct PgoutputMessage {
  enum class Kind { Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate, Message };
  Kind kind = Kind::Begin;
  uint64_t lsn = 0;          // Begin: the commit's LSN; Commit: the commit's LSN; Message: its LSN
  uint64_t end_lsn = 0;      // Commit: the end of the commit record
  int64_t timestamp_us = 0;  // Begin, Commit: the commit time, microseconds since 2000-01-01 UTC
  uint32_t xid = 0;          // Begin
  uint32_t oid = 0;          // Relation, Type, Insert, Update, Delete: the relation's or type's OID
  std::string_view nspname;  // Relation, Type ("" for pg_catalog); Origin: its name
  std::string_view name;     // Relation, Type: the relation's or type's name
  char replica_identity = 'd';          // Relation: d(efault), n(othing), f(ull), i(ndex)
  std::vector<PgoutputColumn> columns;  // Relation
  char old_kind = 0;                    // Update, Delete: 'K' (key columns), 'O' (every column), 0 none
  std::vector<PgoutputValue> old_values;
  std::vector<PgoutputValue> new_values;  // Insert, Update
  std::vector<uint32_t> relations;        // Truncate
  bool transactional = false;             // Message
  std::string_view prefix, content;       // Message
};

// Reads `bytes` into `out` (whose vectors are reused); false with `error` when the message is
// of a type pgep did not ask for or does not fit its bytes. Views point into `bytes`.
bool parse_pgoutput_message(std::string_view bytes, PgoutputMessage& out, std::string& error);

}  // namespace pgep
