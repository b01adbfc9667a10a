// Encoding frames into a buffer (many per write) and decoding them from bytes that arrive in
// pieces of any size. The decoder trusts nothing: every length is checked against the frame
// limit before anything is allocated, and any malformed frame is an error, never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ipc/frame.h"

namespace pgep::ipc {

// Appends the encoded frame (length prefix included) to `out`.
void encode_frame(const Frame& frame, std::string& out);

// Encodes `message`'s frame into `out` without its body's bytes, and returns where in `out`
// they belong: out[..offset), the body, out[offset..) is the frame encode_frame writes. For
// writing a large body from where it already is.
size_t encode_publish_around_body(const Publish& message, std::string& out);

// At least the encoded size of `message`'s frame (length prefix included): what must stay
// within kMaxFrameBytes for a worker to take it.
size_t publish_frame_bound(const Publish& message);

// Decodes one frame's msgpack bytes (without the length prefix).
// On failure returns nullopt and sets `error`.
std::optional<Frame> decode_frame_body(std::string_view bytes, std::string& error);

// Buffers grown past this by one large frame are given back once it is done with.
inline constexpr size_t kKeptBufferBytes = 1u << 20;

class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes = kMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Appends bytes read from the socket.
  void feed(std::string_view bytes);

  enum class Status { NeedMore, Ready, Error };

  // Takes the next complete frame out of the buffer. After an Error the stream is unusable
  // (its framing is lost) and every later call returns Error with the same message.
  Status next(Frame& frame);

  const std::string& error() const { return error_; }
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  Status fail(std::string message);
  void drop_consumed();

  uint32_t max_frame_bytes_;
  std::string buffer_;
  size_t start_ = 0;  // consumed bytes at the front of buffer_, dropped lazily
  std::string error_;
};

}  // namespace pgep::ipc
