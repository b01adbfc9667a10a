// pgep-ctl's status JSON and the Prometheus text, rendered from a plain snapshot.
#include <catch2/catch.hpp>

#include <string>

#include "supervisor/admin/status.h"

using pgep::BridgeSnapshot;
using pgep::Snapshot;
using pgep::WorkerProcess;

namespace {

Snapshot example() {
  Snapshot s;
  s.pid = 42;
  s.ready = true;
  s.notify_listening = true;
  s.received.notify = 5;
  s.received.wal = 7;
  BridgeSnapshot b;
  b.name = "cache/wal2json->topic:\"q\"";
  b.state = WorkerProcess::State::Running;
  b.pid = 43;
  b.broker_connected = true;
  b.in_flight = 2;
  b.published = 9;
  b.acknowledged = 7;
  b.unroutable = 1;
  b.refused = 2;
  b.restarts = 3;
  b.dead_letters = 4;
  b.stalled = true;
  s.bridges.push_back(b);
  return s;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the status JSON holds pgep's and every bridge's state") {
  std::string json = pgep::status_json(example());
  CHECK(has(json, R"("ok":true,"pid":42,"role":"active","takeovers":0,"ready":true,"stopping":false,"notify_listening":true)"));
  CHECK(has(json, R"("name":"cache/wal2json->topic:\"q\"","state":"running","pid":43,"broker_connected":true)"));
  CHECK(has(json, R"("in_flight":2)"));
  CHECK(has(json, R"("restarts":3)"));
  CHECK(has(json, R"("dead_letters":4)"));
  CHECK(has(json, R"("stalled":true)"));
  CHECK_FALSE(has(json, "replication"));
}

TEST_CASE("the status JSON gives the replication lag when the WAL is read") {
  Snapshot s = example();
  s.replication = pgep::ReplicationSnapshot{"pgep_slot", true, 0x100, 0x180};
  std::string json = pgep::status_json(s);
  CHECK(has(json, R"("replication":{"slot":"pgep_slot","streaming":true,"confirmed_lsn":"0/100","server_wal_end":"0/180","lag_bytes":128})"));
}

TEST_CASE("every worker state has a name") {
  CHECK(std::string(pgep::worker_state_name(WorkerProcess::State::Idle)) == "idle");
  CHECK(std::string(pgep::worker_state_name(WorkerProcess::State::Restarting)) == "restarting");
  CHECK(std::string(pgep::worker_state_name(WorkerProcess::State::Stopped)) == "stopped");
}

TEST_CASE("the metrics text has a family per counter and a labelled sample per bridge") {
  Snapshot s = example();
  s.replication = pgep::ReplicationSnapshot{"pgep_slot", true, 0x100, 0x180};
  std::string text = pgep::metrics_text(s);
  CHECK(has(text, "# TYPE pgep_ready gauge\npgep_ready 1\n"));
  CHECK(has(text, "pgep_events_received_total{source=\"wal\"} 7\n"));
  CHECK(has(text, "pgep_bridge_failed_total{bridge=\"cache/wal2json->topic:\\\"q\\\"\"} 3\n"));
  CHECK(has(text, "pgep_worker_restarts_total{bridge=\"cache/wal2json->topic:\\\"q\\\"\"} 3\n"));
  CHECK(has(text, "pgep_bridge_dead_letters_total{bridge=\"cache/wal2json->topic:\\\"q\\\"\"} 4\n"));
  CHECK(has(text, "pgep_bridge_stalled{bridge=\"cache/wal2json->topic:\\\"q\\\"\"} 1\n"));
  CHECK(has(text, "pgep_replication_lag_bytes{slot=\"pgep_slot\"} 128\n"));
  CHECK(pgep::metrics_label("a\nb\\") == "\"a\\nb\\\\\"");
}
