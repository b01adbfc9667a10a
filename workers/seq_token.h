// A message's seq carried through a C library's `void*` user data (hiredis's privdata, paho's
// token context) and back: the value is the seq itself, never a pointer to memory, so nothing
// has to outlive a reply the library may deliver late or never.
#pragma once

#include <cstdint>

namespace pgep {

inline void* seq_as_pointer(uint64_t seq) { return reinterpret_cast<void*>(static_cast<uintptr_t>(seq)); }
inline uint64_t pointer_as_seq(void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace pgep
