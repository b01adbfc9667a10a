// With output_plugin = pgoutput, pgep writes the bodies wal2json format 2 would write, shaped by
// the same wal2json_params. This is what those parameters mean to pgep's writer; the options
// that need what pgoutput does not send (column defaults, NOT NULL, positions, origins) are
// refused, with the reason, when the configuration is loaded (docs/pgoutput.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "shared/wal2json_params.h"

namespace pgep {

// One entry of "filter-tables" or "add-tables": schema.table, either part may be "*".
struct TablePattern {
  std::string schema;  // empty: any schema ("*")
  std::string table;   // empty: any table ("*")
  bool matches(const std::string& schema_name, const std::string& table_name) const;
};

struct PgoutputBodyOptions {
  bool include_transaction = true;
  bool include_xids = false;
  bool include_timestamp = false;
  bool include_lsn = false;
  bool include_schemas = true;
  bool include_types = true;
  bool include_type_oids = false;
  bool include_domain_data_type = false;
  bool include_pk = false;
  bool insert = true, update = true, del = true, truncate = true;  // "actions"
  std::vector<TablePattern> filter_tables;
  std::vector<TablePattern> add_tables;  // empty: every table
  std::vector<std::string> filter_msg_prefixes;
  std::vector<std::string> add_msg_prefixes;  // empty: every prefix

  // Whether a change of schema.table is written (filter-tables, then add-tables).
  bool wants_table(const std::string& schema, const std::string& table) const;
  bool wants_message(const std::string& prefix) const;
};

// The options `params` (already checked as wal2json parameters) give, or nullopt with `error`
// naming the first parameter pgoutput cannot honour and why.
std::optional<PgoutputBodyOptions> pgoutput_body_options(const std::vector<Wal2jsonParam>& params, std::string& error);

}  // namespace pgep
