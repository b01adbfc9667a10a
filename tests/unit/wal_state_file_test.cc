// The state file: one per cluster, database and slot; whole or an error, never "absent" by
// mistake; refused when it names another slot; the first format read once and rewritten.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shared/log.h"
#include "supervisor/sources/wal_state_file.h"

using pgep::SlotIdentity;
using pgep::SlotState;
using pgep::WalStateFile;
using Outcome = pgep::WalStateFile::Read::Outcome;

namespace {

// A scratch directory; the warnings these tests provoke on purpose are kept out of the output.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    pgep::log_setup("pgep-unit", pgep::LogLevel::Error, pgep::LogFormat::Text, pgep::LogOutput::Stderr);
    char tmpl[] = "/tmp/pgep-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str() const { return path.string(); }
};

std::string text_of(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string text, line;
  while (std::getline(in, line)) text += line + "\n";
  return text;
}

void write_text(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

const SlotIdentity kId{"7312345678901234567", "app", "pg_event_proxy"};

}  // namespace

TEST_CASE("a state file's text reads back to the same state, odd names included") {
  SlotState state{{"7312345678901234567", "my db/\nx%", "pg_event_proxy"}, 3, 0x16B3748,
                  {{"bus/wal2json->exchange:amq.topic", {0x100, 3, 0}}, {"cache", {0x200, pgep::WalPosition::kEnd, 0x280}}}};
  std::string error;
  auto back = pgep::parse_slot_state(pgep::format_slot_state(state), error);
  REQUIRE(back);
  CHECK(back->identity == state.identity);
  CHECK(back->timeline == 3);
  CHECK(back->confirmed_lsn == 0x16B3748);
  CHECK(back->bridges == state.bridges);
}

TEST_CASE("a torn or edited state file is not whole") {
  std::string text = pgep::format_slot_state({kId, 1, 0x100, {}});
  std::string error;
  CHECK_FALSE(pgep::parse_slot_state(text.substr(0, text.size() / 2), error));
  CHECK(error.find("torn") != std::string::npos);
  std::string edited = text;
  edited.replace(edited.find("0/100"), 5, "0/200");
  CHECK_FALSE(pgep::parse_slot_state(edited, error));
  CHECK(error.find("checksum") != std::string::npos);
  CHECK_FALSE(pgep::parse_slot_state("", error));
}

TEST_CASE("each cluster, database and slot has its own state file in the directory") {
  TempDir dir;
  WalStateFile a("", dir.str()), b("", dir.str());
  CHECK(a.read_state(kId, 1).outcome == Outcome::Absent);
  CHECK(b.read_state({"9999", "app", "pg_event_proxy"}, 1).outcome == Outcome::Absent);
  CHECK(a.path() != b.path());
  CHECK(a.path() == dir.str() + "/7312345678901234567-app-pg_event_proxy.state");
  REQUIRE(a.write_state(0x200));
  REQUIRE(b.write_state(0x100));
  WalStateFile again("", dir.str());
  auto read = again.read_state(kId, 1);
  CHECK(read.outcome == Outcome::Found);
  CHECK(read.confirmed_lsn == 0x200);
  CHECK_FALSE(std::filesystem::exists(a.path() + ".tmp"));
}

TEST_CASE("the state file only moves forward") {
  TempDir dir;
  WalStateFile file("", dir.str());
  file.read_state(kId, 1);
  REQUIRE(file.write_state(0x300));
  REQUIRE(file.write_state(0x200));  // a slot that went back after a PostgreSQL restart
  WalStateFile again("", dir.str());
  CHECK(again.read_state(kId, 1).confirmed_lsn == 0x300);
}

TEST_CASE("a state file given by path that names another slot is an error naming both") {
  TempDir dir;
  std::string path = dir.str() + "/mine.state";
  WalStateFile first(path, "");
  first.read_state(kId, 1);
  REQUIRE(first.write_state(0x100));
  WalStateFile other(path, "");
  auto read = other.read_state({"42", "shop", "pg_event_proxy"}, 1);
  CHECK(read.outcome == Outcome::Error);
  CHECK(read.error.find("belongs to system 7312345678901234567, database app") != std::string::npos);
  CHECK(read.error.find("connected to system 42, database shop") != std::string::npos);
}

TEST_CASE("an unreadable or torn state file is an error, not absent") {
  TempDir dir;
  WalStateFile file("", dir.str());
  file.read_state(kId, 1);
  REQUIRE(file.write_state(0x100));
  std::string text = text_of(file.path());
  write_text(file.path(), text.substr(0, text.size() - 10));
  WalStateFile again("", dir.str());
  auto read = again.read_state(kId, 1);
  CHECK(read.outcome == Outcome::Error);
  CHECK(read.error.find("is not whole") != std::string::npos);
}

TEST_CASE("a state file of the first format is read once and rewritten") {
  TempDir dir;
  write_text(dir.path / "pg_event_proxy.lsn", "0/16B3748\n");  // the old default, by slot name
  WalStateFile file("", dir.str());
  auto read = file.read_state(kId, 1);
  CHECK(read.outcome == Outcome::Found);
  CHECK(read.confirmed_lsn == 0x16B3748);
  CHECK(read.migrated_from == dir.str() + "/pg_event_proxy.lsn");
  CHECK_FALSE(std::filesystem::exists(dir.path / "pg_event_proxy.lsn"));
  WalStateFile again("", dir.str());
  auto second = again.read_state(kId, 1);
  CHECK(second.outcome == Outcome::Found);
  CHECK(second.migrated_from.empty());

  std::string given = dir.str() + "/given.lsn";  // a state_file path holding the first format
  write_text(given, "1/0\n");
  WalStateFile by_path(given, "");
  auto migrated = by_path.read_state(kId, 1);
  CHECK(migrated.confirmed_lsn == 0x100000000ULL);
  CHECK(text_of(given).find("format 2") != std::string::npos);
  write_text(given, "garbage\n");
  CHECK(WalStateFile(given, "").read_state(kId, 1).outcome == Outcome::Error);
}

TEST_CASE("a state file that cannot be written says why") {
  TempDir dir;
  std::filesystem::create_directory(dir.path / "blocked");
  std::filesystem::create_directory(dir.path / "blocked" / "slot.state");  // rename onto a directory fails
  WalStateFile file((dir.path / "blocked" / "slot.state").string(), "");
  file.read_state(kId, 1);
  CHECK_FALSE(file.write_state(0x100));
  CHECK(file.error().find("cannot rename") != std::string::npos);
  CHECK(file.saved_lsn() == 0);
}
