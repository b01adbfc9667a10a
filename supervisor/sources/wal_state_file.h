// The state file: the last WAL position pgep confirmed to PostgreSQL, so that a slot that
// vanished or is not the one pgep used is noticed at start (wal_source.cc says what is done
// then). Written to a temporary file and renamed, so it always holds a whole position; at most
// once per interval while streaming, which makes it lag the slot and only makes the check more
// lenient. A failed write is logged once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pgep {

class WalStateFile {
 public:
  explicit WalStateFile(std::string path, uint64_t interval_ms = 1000)
      : path_(std::move(path)), interval_ms_(interval_ms) {}

  // The remembered position; nullopt when there is no file, or (with a warning logged) when
  // it does not hold a position.
  std::optional<uint64_t> read() const;
  // Writes `lsn` now.
  void write(uint64_t lsn, uint64_t now_ms);
  // Writes `lsn` if it moved and the last write is `interval_ms` old, or `force`.
  void maybe_write(uint64_t lsn, uint64_t now_ms, bool force);

  const std::string& path() const { return path_; }
  bool write_failed() const { return write_failed_; }

 private:
  std::string path_;
  uint64_t interval_ms_;
  uint64_t saved_lsn_ = 0;
  uint64_t saved_ms_ = 0;
  bool write_failed_ = false;
};

}  // namespace pgep
