#include "supervisor/sources/event_ids.h"

#include <cctype>
#include <cstdio>

#include "shared/lsn.h"

namespace pgep {

std::string encode_name_word(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string event_id_prefix(const std::string& system_id, const std::string& database) {
  return encode_name_word(system_id) + ":" + encode_name_word(database) + ":";
}

std::string outbox_event_id(const std::string& prefix, int64_t row_id) {
  return prefix + "outbox:" + std::to_string(row_id);
}

void WalEventIds::restart() {
  transaction_.clear();
  index_ = 0;
  lone_lsn_ = 0;
  lone_index_ = 0;
}

std::string WalEventIds::begin(uint64_t lsn) {
  transaction_ = format_lsn(lsn) + ":";
  unit_ = lsn;
  index_ = 0;
  position_ = {lsn, 0, 0};
  return prefix_ + transaction_ + "B";
}

std::string WalEventIds::change(uint64_t lsn) {
  // A change with no begin before it on this connection cannot happen (a stream starts at a
  // transaction boundary); were it to, its own LSN keeps the id stable all the same.
  if (transaction_.empty()) return lone(lsn);
  position_ = {unit_, index_ + 1, 0};
  return prefix_ + transaction_ + std::to_string(index_++);
}

std::string WalEventIds::commit(uint64_t lsn) {
  std::string id = prefix_ + transaction_ + "C";
  position_ = {unit_, WalPosition::kEnd, lsn};
  transaction_.clear();
  return id;
}

std::string WalEventIds::lone(uint64_t lsn) {
  lone_index_ = lsn == lone_lsn_ ? lone_index_ + 1 : 0;
  lone_lsn_ = lsn;
  position_ = {lsn, lone_index_, lsn};
  return prefix_ + format_lsn(lsn) + ":" + std::to_string(lone_index_);
}

std::string WalEventIds::whole_transaction(uint64_t lsn) {
  position_ = {lsn, WalPosition::kEnd, lsn};
  return prefix_ + format_lsn(lsn) + ":T";
}

}  // namespace pgep
