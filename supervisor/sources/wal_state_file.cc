#include "supervisor/sources/wal_state_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "shared/log.h"
#include "shared/lsn.h"

namespace pgep {

std::optional<uint64_t> WalStateFile::read() const {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::string text;
  std::getline(in, text);
  std::optional<uint64_t> lsn = parse_lsn(text);
  if (!lsn) log_warn("the state file " + path_ + " does not hold a WAL position; ignored");
  return lsn;
}

void WalStateFile::maybe_write(uint64_t lsn, uint64_t now_ms, bool force) {
  if (lsn != saved_lsn_ && (force || now_ms - saved_ms_ >= interval_ms_)) write(lsn, now_ms);
}

void WalStateFile::write(uint64_t lsn, uint64_t now_ms) {
  saved_lsn_ = lsn;
  saved_ms_ = now_ms;
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ignored);
  std::string temporary = path_ + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << format_lsn(lsn) << "\n";
    if (!out) {
      if (!write_failed_) log_warn("cannot write the state file " + path_ + ": a vanished slot would go unnoticed");
      write_failed_ = true;
      return;
    }
  }
  if (std::rename(temporary.c_str(), path_.c_str()) != 0) {
    if (!write_failed_) log_warn("cannot write the state file " + path_ + ": " + std::strerror(errno));
    write_failed_ = true;
  }
}

}  // namespace pgep
