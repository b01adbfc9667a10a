// Connections that leave this machine without a certificate check: anyone on the path can read
// them (passwords included) or pose as the server. pgep warns of each once, at start and in
// --check-config, and connects anyway: the operator may have a private network or a tunnel.
#pragma once

#include <string>
#include <vector>

#include "shared/config.h"

namespace pgep {

// Whether `host` names this machine: a socket path, localhost, 127.0.0.0/8 or ::1.
bool is_loopback_host(const std::string& host);

// One warning per database or upstream host that is not on this machine and whose connection
// does not verify the peer's certificate. `input`'s environment gives PGSSLMODE and PGHOST,
// which libpq reads when the URI does not say.
std::vector<std::string> unverified_peers(const Config& config, const ConfigInput& input);

}  // namespace pgep
