// SHA-256 and HMAC-SHA256 through OpenSSL, and hex: what the webhook signature and AWS
// Signature Version 4 are made of.
#pragma once

#include <string>
#include <string_view>

namespace pgep {

// The raw 32-byte digests.
std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// Lower-case hex of raw bytes.
std::string hex(std::string_view bytes);

}  // namespace pgep
