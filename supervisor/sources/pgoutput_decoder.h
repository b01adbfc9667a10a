// Turns pgoutput's messages into the records wal2json format 2 would have written for the same
// changes, with the same wal2json_params options (pgoutput_body_options.h), so that routing
// keys, bodies and consumers stay the same when an operator switches plugins. It keeps the
// relation cache the protocol requires (a Relation message precedes a relation's first change
// on each connection, and again after it changes) and the type names (pg_type_names.h).
// Where pgoutput knows more than wal2json says, the body says so in its own field rather than
// inventing a value; every difference is listed in docs/pgoutput.md.
//
// Called by: WalSource, one XLogData message at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/pgoutput_body_options.h"
#include "supervisor/sources/pg_type_names.h"
#include "supervisor/sources/pgoutput_message.h"
#include "supervisor/sources/wal_record.h"

namespace pgep {

struct WalEvent {
  WalRecord record;
  std::string body;  // wal2json format 2's JSON object
};

class PgoutputDecoder {
 public:
  explicit PgoutputDecoder(PgoutputBodyOptions options) : options_(std::move(options)) {}

  PgTypeNames& types() { return types_; }
  bool needs_types() const { return options_.include_types; }
  // A new connection: pgoutput describes every relation again.
  void reset();

  // The records of one pgoutput message, which started at `wal_start` in the WAL, in `events`
  // (its first `count` entries; the strings are reused from call to call). Relation, Type
  // and Origin messages make none. False with `error` for a message that cannot be read or
  // that names a relation pgoutput never described.
  bool decode(std::string_view data, uint64_t wal_start, std::vector<WalEvent>& events, size_t& count,
              std::string& error);

 private:
  struct Relation {
    std::string schema, table;
    char identity = 'd';
    std::vector<PgoutputColumn> columns;
    std::string routing_prefix;  // "schema.table." (or "table." without "include-schemas")
    bool wanted = true;          // filter-tables, add-tables
  };
  enum class TupleKind { Change, Identity, PrimaryKey };

  void remember(const PgoutputMessage& message);
  WalEvent& next_event(std::vector<WalEvent>& events, size_t& count);
  void write_begin(const PgoutputMessage& message, WalEvent& event);
  void write_commit(const PgoutputMessage& message, WalEvent& event);
  bool write_change(const PgoutputMessage& message, uint64_t wal_start, std::vector<WalEvent>& events, size_t& count,
                    std::string& error);
  bool write_truncate(const PgoutputMessage& message, uint64_t wal_start, std::vector<WalEvent>& events,
                      size_t& count, std::string& error);
  void write_message(const PgoutputMessage& message, WalEvent& event);
  void write_common(std::string& out, bool transactional, uint64_t lsn) const;
  void write_table(std::string& out, const Relation& relation) const;
  void write_identity(std::string& out, const PgoutputMessage& message, const Relation& relation) const;
  void write_tuple(std::string& out, const Relation& relation, const std::vector<PgoutputValue>& values,
                   TupleKind kind) const;
  void write_unchanged(std::string& out, const Relation& relation, const std::vector<PgoutputValue>& values) const;
  const Relation* relation(uint32_t oid, std::string& error) const;

  PgoutputBodyOptions options_;
  PgTypeNames types_;
  std::unordered_map<uint32_t, Relation> relations_;
  PgoutputMessage message_;
  uint32_t xid_ = 0;           // of the open transaction (Begin)
  int64_t commit_time_us_ = 0;  // of the open transaction (Begin)
  bool in_transaction_ = false;
};

// timestamptz_to_str of a commit time, in UTC: "2026-11-28 04:13:12.123456+00".
std::string format_commit_time(int64_t us_since_2000);

}  // namespace pgep
