// What the tests of the trackers share: events to put in a ledger and acknowledge.
#pragma once

#include "supervisor/ledger.h"

namespace pgep::test {

// Appends an empty event to `ledger`; returns its seq.
inline uint64_t add(Ledger& ledger) { return ledger.append(ipc::Publish{}); }

}  // namespace pgep::test
