// The state of a slot in a table of the database (`state_table`) instead of a file, so that a
// pgep on another host (the standby of a pair, a container that moved) makes the same lost-slot
// check as the pgep that wrote it (docs/ha.md). One row per cluster, database and slot; its
// `state` column holds the state file's very text (format_slot_state: checksummed, read back by
// parse_slot_state), so there is one format. The table is created when missing and the role
// may; otherwise its CREATE statement is printed.
//
// The row is written on a session of its own, without waiting: save() returns the position the
// row holds until the write of a newer one is answered, so PostgreSQL never hears of a position
// the row does not hold. It is written when a bridge acknowledged something, or when the slot's
// position moved a WAL segment (worth_writing says why not at every move). A write PostgreSQL refuses is said (error()) and, like a file that
// cannot be written, does not hold the slot back.
//
// Called by: the WAL source. Calls back: the `done` of open(), from this session's input.
#pragma once

#include <uv.h>

#include <map>
#include <string>

#include "supervisor/sources/pg_session.h"
#include "supervisor/sources/slot_state_store.h"

namespace pgep {

class WalStateTable : public SlotStateStore, private PgSession::Owner {
 public:
  // `table`: a checked name, "pgep_state" or "schema.pgep_state".
  WalStateTable(uv_loop_t* loop, std::string uri, std::string table);

  void start() override { session_.start(); }
  void open(const SlotIdentity& identity, uint32_t timeline, Opened done) override;
  uint64_t save(uint64_t lsn, const std::map<std::string, WalPosition>& bridges) override;
  const std::map<std::string, WalPosition>& saved_bridges() const override { return stored_.bridges; }
  const std::string& error() const override { return error_; }
  std::string where() const override { return "the state table " + table_; }
  std::string how_to_forget() const override;
  bool sees_every_confirmation() const override { return true; }  // every pgep of the pair writes it

  // The statement that makes the table, printed when pgep may not run it.
  std::string create_statement() const;

 private:
  enum class Step { Idle, Checking, Creating, Reading, Writing };
  struct Kept {
    uint64_t lsn = 0;
    std::map<std::string, WalPosition> bridges;
    bool operator==(const Kept&) const = default;
  };

  // PgSession::Owner
  void on_session_open() override;
  void on_session_input() override;
  void on_session_lost(bool was_ready) override;
  std::string while_down() const override;

  void send(Step step, const std::string& sql);
  void next();
  bool worth_writing() const;
  void on_checked(bool exists);
  void on_read(PGresult* result);
  void answer_open(Read read);

  uv_loop_t* loop_;
  PgSession session_;
  std::string table_;
  uint64_t sent_ms_ = 0;  // when the command under way was sent
  Step step_ = Step::Idle;
  SlotIdentity identity_;
  uint32_t timeline_ = 0;
  Opened opened_;        // an open() whose read is still to be sent or answered
  std::string unusable_;  // the table can neither be found nor made: every open() fails with this
  Kept stored_;          // what the row holds
  Kept wanted_;          // what save() asked for last
  Kept writing_;         // what the write under way holds
  std::string error_;
};

}  // namespace pgep
