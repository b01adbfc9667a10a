// What pgep says of itself, rendered apart from the objects it reports on (as PgBouncer's
// admin.c and stats.c are): the supervisor fills a plain Snapshot, and this file turns it into
// pgep-ctl's status JSON and the Prometheus text of GET /metrics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/worker_process.h"

namespace pgep {

struct BridgeSnapshot {
  std::string name;
  WorkerProcess::State state = WorkerProcess::State::Idle;
  uint64_t pid = 0;
  bool broker_connected = false;
  uint64_t in_flight = 0;
  uint64_t in_flight_bytes = 0;
  uint64_t at_worker = 0;  // events the worker holds (received, not yet acknowledged), as it last said
  uint64_t published = 0;
  uint64_t acknowledged = 0;
  uint64_t unroutable = 0;
  uint64_t refused = 0;
  uint64_t dead_letters = 0;  // written to events.dead_letters
  uint64_t restarts = 0;
  bool stalled = false;  // events outstanding and no acknowledgement for a while
  std::string last_error;
  bool retired = false;  // a reload removed it; it is shown until it is gone
};

struct ReplicationSnapshot {
  std::string slot;
  bool streaming = false;
  uint64_t confirmed_lsn = 0;
  uint64_t server_wal_end = 0;  // never behind confirmed_lsn
};

// Events read from PostgreSQL, by source.
struct EventsReceived {
  uint64_t notify = 0;
  uint64_t wal = 0;
  uint64_t outbox = 0;
};

struct Snapshot {
  uint64_t pid = 0;
  std::string role = "active";  // "active", "standby" (another pgep holds the lock), "single" (active_standby off)
  uint64_t takeovers = 0;       // times this pgep became active
  bool ready = false;
  bool stopping = false;
  bool notify_listening = false;
  EventsReceived received;
  std::vector<BridgeSnapshot> bridges;
  std::optional<ReplicationSnapshot> replication;
};

// "idle", "starting", "running", "restarting", "stopping", "stopped".
const char* worker_state_name(WorkerProcess::State state);
// pgep-ctl status --json.
std::string status_json(const Snapshot& snapshot);
// Prometheus' text format.
std::string metrics_text(const Snapshot& snapshot);
// A Prometheus label value, quoted and escaped.
std::string metrics_label(const std::string& value);

}  // namespace pgep
