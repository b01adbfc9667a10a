#include "ctl/status_format.h"

#include <simdjson.h>

namespace pgep {

namespace {

std::string text(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get(v) ? std::string() : std::string(v);
}

uint64_t number(simdjson::dom::element e, const char* key) {
  uint64_t v = 0;
  return e[key].get(v) ? 0 : v;
}

bool flag(simdjson::dom::element e, const char* key) {
  bool v = false;
  return e[key].get(v) ? false : v;
}

}  // namespace

CtlAnswer parse_ctl_answer(const std::string& json) {
  CtlAnswer answer;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json).get(root)) {
    answer.error = "pgep answered something that is not JSON: " + json.substr(0, 200);
    return answer;
  }
  answer.ok = flag(root, "ok");
  answer.message = text(root, "message");
  answer.error = text(root, "error");
  return answer;
}

std::string format_status(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json).get(root)) return json;
  std::string role = text(root, "role");
  std::string out = "pgep pid " + std::to_string(number(root, "pid")) + ": " +
                    (flag(root, "stopping") ? "stopping" : flag(root, "ready") ? "ready" : "not ready") +
                    (role.empty() || role == "single" ? "" : ", " + role) + "\n";
  simdjson::dom::array bridges;
  if (!root["bridges"].get(bridges)) {
    for (simdjson::dom::element b : bridges) {
      out += "bridge " + text(b, "name") + ": " + text(b, "state") + ", pid " + std::to_string(number(b, "pid")) +
             ", broker " + (flag(b, "broker_connected") ? "connected" : "not connected") + ", in flight " +
             std::to_string(number(b, "in_flight")) + ", published " + std::to_string(number(b, "published")) +
             ", acknowledged " + std::to_string(number(b, "acknowledged")) + ", dead letters " +
             std::to_string(number(b, "dead_letters")) + ", restarts " + std::to_string(number(b, "restarts"));
      if (flag(b, "stalled")) out += ", STALLED";
      std::string error = text(b, "last_error");
      out += error.empty() ? "\n" : ", last error: " + error + "\n";
    }
  }
  simdjson::dom::element replication;
  if (!root["replication"].get(replication)) {
    out += "replication: slot " + text(replication, "slot") + ", " +
           (flag(replication, "streaming") ? "streaming" : "not streaming") + ", confirmed " +
           text(replication, "confirmed_lsn") + ", lag " + std::to_string(number(replication, "lag_bytes")) + " bytes\n";
  }
  return out;
}

}  // namespace pgep
