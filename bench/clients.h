// What the benchmarks' consumer and publisher share: failing loudly, and an AMQP connection
// with channel 1 open.
#pragma once

#include <amqp.h>
#include <time.h>

#include <cstdint>

#include <string>

#include "shared/uri.h"

namespace pgep::bench {

// Microseconds of a clock: CLOCK_REALTIME (comparable with PostgreSQL's clock_timestamp()) or
// CLOCK_MONOTONIC (for durations).
int64_t clock_us(clockid_t clock);

// Prints "PROGRAM: what" on stderr and exits with status 2.
[[noreturn]] void die(const std::string& what);

void check_amqp(amqp_rpc_reply_t reply, const char* doing);

// Connected, logged in to the URI's vhost, channel 1 open; dies otherwise.
amqp_connection_state_t open_amqp(const Uri& uri);

}  // namespace pgep::bench
