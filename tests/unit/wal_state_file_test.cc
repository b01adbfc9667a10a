// The state file: missing, garbage, a whole position after every write, writes at most once per
// interval unless forced, and a failed write does not throw.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shared/log.h"
#include "supervisor/sources/wal_state_file.h"

using pgep::WalStateFile;

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
};

std::string text_of(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

}  // namespace

TEST_CASE("a missing state file holds no position, and one of garbage is ignored") {
  TempDir dir;
  WalStateFile missing((dir.path / "none").string());
  CHECK_FALSE(missing.read());
  std::ofstream(dir.path / "garbage") << "not a position\n";
  CHECK_FALSE(WalStateFile((dir.path / "garbage").string()).read());
}

TEST_CASE("the state file is written whole, in a directory it creates, and read back") {
  TempDir dir;
  std::string path = (dir.path / "sub" / "slot.lsn").string();
  WalStateFile file(path);
  file.write(0x16B3748, 0);
  CHECK(text_of(path) == "0/16B3748");
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  CHECK(file.read() == 0x16B3748u);
}

TEST_CASE("the state file is written at most once per interval unless forced, and only when it moved") {
  TempDir dir;
  std::string path = (dir.path / "slot.lsn").string();
  WalStateFile file(path, 1000);
  file.write(100, 5000);
  file.maybe_write(200, 5500, false);
  CHECK(file.read() == 100u);  // too soon
  file.maybe_write(200, 6000, false);
  CHECK(file.read() == 200u);
  file.maybe_write(300, 6001, true);
  CHECK(file.read() == 300u);  // forced (before stopping)
  std::filesystem::remove(path);
  file.maybe_write(300, 9000, true);
  CHECK_FALSE(std::filesystem::exists(path));  // it did not move
}

TEST_CASE("a state file that cannot be written is reported, not thrown") {
  TempDir dir;
  std::filesystem::create_directory(dir.path / "blocked");
  std::ofstream(dir.path / "blocked" / "slot.lsn.tmp");
  std::filesystem::create_directory(dir.path / "blocked" / "slot.lsn");  // rename onto a directory fails
  WalStateFile file((dir.path / "blocked" / "slot.lsn").string());
  file.write(100, 0);
  CHECK(file.write_failed());
}
