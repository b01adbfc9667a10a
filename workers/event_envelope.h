// An event as one JSON object, {"id", "channel", "routing_key", "body"}: a webhook batch's
// entries and a Lambda function's payload. The body is embedded as it is when it is one JSON
// value (a wal2json change, a JSON NOTIFY payload), else it is a JSON string.
#pragma once

#include <string>

#include "ipc/frame.h"

namespace pgep {

std::string event_envelope(const ipc::Publish& message, const std::string& channel);

}  // namespace pgep
