// The state file: what pgep last confirmed to PostgreSQL for one slot of one database of one
// cluster, so that at start a slot that vanished or was created again is noticed (wal_source.cc
// says what is done then). DESIGN, "Lessons from the field":
//   - keyed by the cluster's system identifier, the database and the slot: its default name is
//     DIRECTORY/SYSTEMID-DATABASE-SLOT.state, so instances on one host never share one, and a file
//     given by path that holds another identity is refused;
//   - written (write, fsync, rename, fsync the directory) *before* a position is confirmed, so
//     the slot is never ahead of the file for the same slot;
//   - a file that cannot be read or is torn is an error, never "absent";
//   - the first format (a bare LSN, DIRECTORY/SLOT.lsn by default) is read once and rewritten.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "supervisor/sources/event_ids.h"
#include "supervisor/sources/slot_state_store.h"

namespace pgep {

struct SlotState {
  SlotIdentity identity;
  uint32_t timeline = 0;
  uint64_t confirmed_lsn = 0;
  std::map<std::string, WalPosition> bridges;  // each WAL bridge's last acknowledged event
};

// The file's text, and its reading back: pure, for the unit tests.
std::string format_slot_state(const SlotState& state);
// nullopt with `error` set when the text is not a whole state file of this format.
std::optional<SlotState> parse_slot_state(const std::string& text, std::string& error);

class WalStateFile : public SlotStateStore {
 public:
  // `path`: the file, or empty for one named by the identity in `directory`. `alone`: no other
  // pgep may stream the slot (active_standby = false).
  WalStateFile(std::string path, std::string directory, bool alone = true)
      : explicit_path_(std::move(path)), directory_(std::move(directory)), alone_(alone) {}

  // Fixes the file for this identity and reads what it remembers.
  Read read_state(const SlotIdentity& identity, uint32_t timeline);
  // Writes `lsn` (never below what the file holds) and the bridges' positions durably, if
  // either changed. False (and `error()`) when the write failed.
  bool write_state(uint64_t lsn, const std::map<std::string, WalPosition>& bridges = {});

  // SlotStateStore: the same, synchronous.
  void open(const SlotIdentity& identity, uint32_t timeline, Opened done) override { done(read_state(identity, timeline)); }
  uint64_t save(uint64_t lsn, const std::map<std::string, WalPosition>& bridges) override;
  const std::map<std::string, WalPosition>& saved_bridges() const override { return saved_bridges_; }
  const std::string& error() const override { return error_; }
  std::string where() const override { return path_; }
  std::string how_to_forget() const override { return "delete " + path_; }
  bool sees_every_confirmation() const override { return alone_; }

  const std::string& path() const { return path_; }
  uint64_t saved_lsn() const { return saved_lsn_; }

 private:
  Read read_legacy(const std::string& legacy, bool is_explicit);

  std::string explicit_path_;
  std::string directory_;
  bool alone_;
  std::string path_;
  SlotIdentity identity_;
  uint32_t timeline_ = 0;
  uint64_t saved_lsn_ = 0;
  std::map<std::string, WalPosition> saved_bridges_;
  std::string error_;
};

}  // namespace pgep
