// What routing needs from one wal2json message, parsed with simdjson and nothing more: the
// body is forwarded exactly as wal2json wrote it.
//   format 2, one object per change:  schema.table.insert|update|delete|truncate
//                                      "begin" ("B"), "commit" ("C"), "message.PREFIX" ("M")
//   format 1, one object per transaction: "transaction"
//   anything else, forwarded all the same:  "unknown"
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace pgep {

struct WalRecord {
  std::string routing_key;
  bool begins = false;   // opens a transaction (format 2 "B")
  bool commits = false;  // closes one (format 2 "C", and every format 1 message)
};

class WalRecordParser {
 public:
  WalRecordParser();
  ~WalRecordParser();
  WalRecordParser(const WalRecordParser&) = delete;
  WalRecordParser& operator=(const WalRecordParser&) = delete;
  // Never drops a message: one it cannot read, or of an action it does not know, gets the
  // routing key "unknown" and `problem` says why (empty otherwise). A change without a schema
  // ("include-schemas" '0') is keyed TABLE.ACTION.
  WalRecord parse(std::string_view json, int format_version, std::string& problem);

 private:
  WalRecord parse_object(std::string_view json, std::string& problem);

  struct Impl;
  std::unique_ptr<Impl> impl_;  // simdjson's parser, kept out of this header
};

}  // namespace pgep
