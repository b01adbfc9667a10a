// The options a replication session asks the server for: pgep's timeouts, which the takeover of
// a frozen pgep depends on (docs/ha.md), and the URI's own after them.
#include <catch2/catch.hpp>

#include "supervisor/sources/pg_connection.h"

TEST_CASE("a replication session keeps pgep's timeouts and the URI's own options after them") {
  const std::string pgeps = "-c wal_sender_timeout=20000 -c tcp_user_timeout=10000";
  CHECK(pgep::replication_options("postgresql://u@h/db") == pgeps);
  CHECK(pgep::replication_options("postgresql://u@h/db?options=-c%20search_path%3Dapp") == pgeps + " -c search_path=app");
  CHECK(pgep::replication_options("host=h dbname=db options='-c work_mem=64MB'") == pgeps + " -c work_mem=64MB");
  // One that sets a timeout itself has the last word: the operator asked for it.
  CHECK(pgep::replication_options("postgresql:///db?options=-c%20wal_sender_timeout%3D60000")
            .ends_with("-c wal_sender_timeout=60000"));
  CHECK(pgep::replication_options("not a connection string ' ") == pgeps);  // libpq says why when it connects
}
