#include "supervisor/admin/status.h"

#include <functional>

#include "shared/json_writer.h"
#include "shared/lsn.h"

namespace pgep {

const char* worker_state_name(WorkerProcess::State state) {
  switch (state) {
    case WorkerProcess::State::Idle:
      return "idle";
    case WorkerProcess::State::Starting:
      return "starting";
    case WorkerProcess::State::Running:
      return "running";
    case WorkerProcess::State::Restarting:
      return "restarting";
    case WorkerProcess::State::Stopping:
      return "stopping";
    case WorkerProcess::State::Stopped:
      return "stopped";
  }
  return "unknown";
}

namespace {

std::string bridge_json(const BridgeSnapshot& b) {
  return JsonObject()
      .add("name", b.name)
      .add("state", worker_state_name(b.state))
      .add("pid", b.pid)
      .add("broker_connected", b.broker_connected)
      .add("in_flight", b.in_flight)
      .add("in_flight_bytes", b.in_flight_bytes)
      .add("at_worker", b.at_worker)
      .add("published", b.published)
      .add("acknowledged", b.acknowledged)
      .add("unroutable", b.unroutable)
      .add("refused", b.refused)
      .add("dead_letters", b.dead_letters)
      .add("restarts", b.restarts)
      .add("stalled", b.stalled)
      .add("last_error", b.last_error)
      .add("retired", b.retired)
      .str();
}

}  // namespace

std::string status_json(const Snapshot& snapshot) {
  std::string bridges = "[";
  for (const BridgeSnapshot& bridge : snapshot.bridges) bridges += (bridges.size() > 1 ? "," : "") + bridge_json(bridge);
  bridges += "]";
  JsonObject status;
  status.add("ok", true).add("pid", snapshot.pid).add("role", snapshot.role).add("takeovers", snapshot.takeovers)
      .add("ready", snapshot.ready);
  status.add("stopping", snapshot.stopping).add("notify_listening", snapshot.notify_listening).add_raw("bridges", bridges);
  if (const auto& r = snapshot.replication) {
    status.add_raw("replication", JsonObject()
                                      .add("slot", r->slot)
                                      .add("streaming", r->streaming)
                                      .add("confirmed_lsn", format_lsn(r->confirmed_lsn))
                                      .add("server_wal_end", format_lsn(r->server_wal_end))
                                      .add("lag_bytes", r->server_wal_end - r->confirmed_lsn)
                                      .str());
  }
  return status.str();
}

std::string metrics_text(const Snapshot& snapshot) {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&](const char* name, const std::string& labels, uint64_t value) {
    out += std::string(name) + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(value) + "\n";
  };
  family("pgep_ready", "gauge", "1 when every LISTEN and START_REPLICATION succeeded and every worker has its broker");
  sample("pgep_ready", "", snapshot.ready ? 1 : 0);
  family("pgep_active", "gauge", "1 while this pgep forwards (it holds the lock, or active_standby is off), 0 on standby");
  sample("pgep_active", "", snapshot.role == "standby" ? 0 : 1);
  family("pgep_takeovers_total", "counter", "Times this pgep took the lock and became active");
  sample("pgep_takeovers_total", "", snapshot.takeovers);
  family("pgep_events_received_total", "counter", "Events read from PostgreSQL, by source");
  sample("pgep_events_received_total", "source=\"notify\"", snapshot.received.notify);
  sample("pgep_events_received_total", "source=\"wal\"", snapshot.received.wal);
  sample("pgep_events_received_total", "source=\"outbox\"", snapshot.received.outbox);
  struct Column {
    const char* name;
    const char* type;
    const char* help;
    std::function<uint64_t(const BridgeSnapshot&)> value;
  };
  const Column columns[] = {
      {"pgep_bridge_published_total", "counter", "Messages the worker published (resends included)",
       [](const BridgeSnapshot& b) { return b.published; }},
      {"pgep_bridge_acknowledged_total", "counter", "Events the broker confirmed",
       [](const BridgeSnapshot& b) { return b.acknowledged; }},
      {"pgep_bridge_failed_total", "counter", "Messages refused or dropped as unroutable by the current worker",
       [](const BridgeSnapshot& b) { return b.unroutable + b.refused; }},
      {"pgep_bridge_in_flight", "gauge", "Events waiting for the broker's confirmation",
       [](const BridgeSnapshot& b) { return b.in_flight; }},
      {"pgep_bridge_in_flight_bytes", "gauge", "Bytes of the events waiting in the ledger",
       [](const BridgeSnapshot& b) { return b.in_flight_bytes; }},
      {"pgep_bridge_at_worker", "gauge", "Events the worker holds: received from the ledger, not yet acknowledged",
       [](const BridgeSnapshot& b) { return b.at_worker; }},
      {"pgep_bridge_dead_letters_total", "counter", "Messages written to events.dead_letters",
       [](const BridgeSnapshot& b) { return b.dead_letters; }},
      {"pgep_bridge_stalled", "gauge", "1 while events are outstanding and none was acknowledged for stall_timeout",
       [](const BridgeSnapshot& b) { return uint64_t{b.stalled ? 1u : 0u}; }},
      {"pgep_worker_restarts_total", "counter", "Times the bridge's worker was restarted",
       [](const BridgeSnapshot& b) { return b.restarts; }},
      {"pgep_broker_connected", "gauge", "1 when the bridge's worker is connected to its broker",
       [](const BridgeSnapshot& b) { return uint64_t{b.broker_connected ? 1u : 0u}; }},
  };
  for (const Column& column : columns) {
    family(column.name, column.type, column.help);
    for (const BridgeSnapshot& b : snapshot.bridges) sample(column.name, "bridge=" + metrics_label(b.name), column.value(b));
  }
  if (const auto& r = snapshot.replication) {
    std::string slot = "slot=" + metrics_label(r->slot);
    family("pgep_replication_lag_bytes", "gauge", "WAL between the server's end and the position pgep confirmed");
    sample("pgep_replication_lag_bytes", slot, r->server_wal_end - r->confirmed_lsn);
    family("pgep_replication_confirmed_lsn", "gauge", "The WAL position pgep confirmed, as a number");
    sample("pgep_replication_confirmed_lsn", slot, r->confirmed_lsn);
  }
  return out;
}

std::string metrics_label(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace pgep
