// pgep-ctl's reading of pgep's JSON answers (simdjson), and the human form of `status`.
#pragma once

#include <string>

namespace pgep {

struct CtlAnswer {
  bool ok = false;
  std::string message;
  std::string error;
};

CtlAnswer parse_ctl_answer(const std::string& json);
// "pgep pid 123: ready" and a line per bridge and for replication.
std::string format_status(const std::string& json);

}  // namespace pgep
