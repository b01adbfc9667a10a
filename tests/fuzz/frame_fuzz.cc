// libFuzzer target: the frame decoder, fed the input in two pieces split at a point the input
// itself chooses, so split reads are fuzzed too. Anything decoded must encode and decode again
// to the same frame.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ipc/frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t cut = input.empty() ? 0 : data[0] % (input.size() + 1);
  pgep::ipc::FrameDecoder decoder(1 << 20);
  decoder.feed(input.substr(0, cut));
  pgep::ipc::Frame frame;
  auto drain = [&] {
    while (decoder.next(frame) == pgep::ipc::FrameDecoder::Status::Ready) {
      std::string once, twice;
      pgep::ipc::encode_frame(frame, once);
      pgep::ipc::FrameDecoder again;
      again.feed(once);
      pgep::ipc::Frame copy;
      if (again.next(copy) != pgep::ipc::FrameDecoder::Status::Ready) std::abort();
      pgep::ipc::encode_frame(copy, twice);
      if (once != twice) std::abort();
    }
  };
  drain();
  decoder.feed(input.substr(cut));
  drain();
  return 0;
}
