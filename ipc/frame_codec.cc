#include "ipc/frame_codec.h"

#include <msgpack.hpp>

#include <new>

namespace pgep::ipc {

namespace {

// Array sizes of each frame type, the type included.
constexpr uint32_t kHelloSize = 3;
constexpr uint32_t kConfigureSize = 3;
constexpr uint32_t kPublishSize = 7;
constexpr uint32_t kAckSize = 2;
constexpr uint32_t kNackSize = 4;
constexpr uint32_t kStatsSize = 2;
constexpr uint32_t kShutdownSize = 1;

// Maps hold settings, headers or counters: a few dozen entries. The limit stops a forged map
// header from making the unpacker allocate room for millions of entries.
constexpr uint32_t kMaxMapEntries = 1024;
constexpr uint32_t kMaxArrayElements = 16;
constexpr uint32_t kMaxDepth = 3;

struct StringSink {
  std::string& out;
  void write(const char* data, size_t size) { out.append(data, size); }
};

using Packer = msgpack::packer<StringSink>;

void pack_string(Packer& p, const std::string& s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_bin(Packer& p, const std::string& s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void pack_string_map(Packer& p, const std::map<std::string, std::string>& map) {
  p.pack_map(static_cast<uint32_t>(map.size()));
  for (const auto& [key, value] : map) {
    pack_string(p, key);
    pack_string(p, value);
  }
}

struct BodyPacker {
  Packer& p;
  const std::string& out;  // where `p` writes
  void header(FrameType type, uint32_t size) {
    p.pack_array(size);
    p.pack_uint8(static_cast<uint8_t>(type));
  }
  void operator()(const Hello& f) {
    header(FrameType::Hello, kHelloSize);
    p.pack_uint32(f.protocol_version);
    p.pack_uint32(f.pid);
  }
  void operator()(const Configure& f) {
    header(FrameType::Configure, kConfigureSize);
    pack_string(p, f.bridge);
    pack_string_map(p, f.settings);
  }
  void operator()(const Publish& f) { publish(f, /*body_bytes=*/true); }
  // A Publish's fields in order. Without `body_bytes` its body's bytes are left out, and the
  // offset in `out` where they belong is returned.
  size_t publish(const Publish& f, bool body_bytes) {
    header(FrameType::Publish, kPublishSize);
    p.pack_uint64(f.seq);
    pack_bin(p, f.routing_key);
    p.pack_bin(static_cast<uint32_t>(f.body.size()));
    size_t body_at = out.size();
    if (body_bytes) p.pack_bin_body(f.body.data(), static_cast<uint32_t>(f.body.size()));
    pack_string(p, f.message_id);
    p.pack_uint64(f.timestamp_us);
    pack_string_map(p, f.headers);
    return body_at;
  }
  void operator()(const Ack& f) {
    header(FrameType::Ack, kAckSize);
    p.pack_uint64(f.seq);
  }
  void operator()(const Nack& f) {
    header(FrameType::Nack, kNackSize);
    p.pack_uint64(f.seq);
    pack_string(p, f.error);
    if (f.retryable) p.pack_true(); else p.pack_false();
  }
  void operator()(const Stats& f) {
    header(FrameType::Stats, kStatsSize);
    p.pack_map(static_cast<uint32_t>(f.counters.size()));
    for (const auto& [key, value] : f.counters) {
      pack_string(p, key);
      p.pack_uint64(value);
    }
  }
  void operator()(const Shutdown&) { header(FrameType::Shutdown, kShutdownSize); }
};

// Thrown inside this file only, for a frame whose shape is wrong.
struct Malformed {
  std::string why;
};

uint64_t read_uint(const msgpack::object& o, const char* field, uint64_t max = UINT64_MAX) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) throw Malformed{std::string(field) + " is not an unsigned integer"};
  if (o.via.u64 > max) throw Malformed{std::string(field) + " is out of range"};
  return o.via.u64;
}

std::string read_bytes(const msgpack::object& o, const char* field) {
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  throw Malformed{std::string(field) + " is not a string"};
}

bool read_bool(const msgpack::object& o, const char* field) {
  if (o.type != msgpack::type::BOOLEAN) throw Malformed{std::string(field) + " is not a boolean"};
  return o.via.boolean;
}

const msgpack::object_map& read_map(const msgpack::object& o, const char* field) {
  if (o.type != msgpack::type::MAP) throw Malformed{std::string(field) + " is not a map"};
  return o.via.map;
}

std::map<std::string, std::string> read_string_map(const msgpack::object& o, const char* field) {
  std::map<std::string, std::string> out;
  const msgpack::object_map& map = read_map(o, field);
  for (uint32_t i = 0; i < map.size; ++i) {
    std::string key = read_bytes(map.ptr[i].key, field);
    if (!out.emplace(key, read_bytes(map.ptr[i].val, field)).second) {
      throw Malformed{std::string(field) + " holds the key \"" + key + "\" twice"};
    }
  }
  return out;
}

Frame read_frame(const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size == 0) {
    throw Malformed{"a frame is not a non-empty array"};
  }
  const msgpack::object* e = root.via.array.ptr;
  uint32_t size = root.via.array.size;
  auto expect = [&](uint32_t wanted, const char* name) {
    if (size != wanted) {
      throw Malformed{std::string(name) + " frame has " + std::to_string(size) +
                      " elements, expected " + std::to_string(wanted)};
    }
  };
  switch (static_cast<FrameType>(read_uint(e[0], "frame type", 255))) {
    case FrameType::Hello:
      expect(kHelloSize, "Hello");
      return Hello{static_cast<uint32_t>(read_uint(e[1], "protocol version", UINT32_MAX)),
                   static_cast<uint32_t>(read_uint(e[2], "pid", UINT32_MAX))};
    case FrameType::Configure:
      expect(kConfigureSize, "Configure");
      return Configure{read_bytes(e[1], "bridge"), read_string_map(e[2], "settings")};
    case FrameType::Publish:
      expect(kPublishSize, "Publish");
      return Publish{read_uint(e[1], "seq"), read_bytes(e[2], "routing key"),
                     read_bytes(e[3], "body"), read_bytes(e[4], "message id"),
                     read_uint(e[5], "timestamp"), read_string_map(e[6], "headers")};
    case FrameType::Ack:
      expect(kAckSize, "Ack");
      return Ack{read_uint(e[1], "seq")};
    case FrameType::Nack:
      expect(kNackSize, "Nack");
      return Nack{read_uint(e[1], "seq"), read_bytes(e[2], "error"), read_bool(e[3], "retryable")};
    case FrameType::Stats: {
      expect(kStatsSize, "Stats");
      Stats stats;
      const msgpack::object_map& map = read_map(e[1], "counters");
      for (uint32_t i = 0; i < map.size; ++i) {
        stats.counters[read_bytes(map.ptr[i].key, "counter name")] =
            read_uint(map.ptr[i].val, "counter");
      }
      return stats;
    }
    case FrameType::Shutdown:
      expect(kShutdownSize, "Shutdown");
      return Shutdown{};
  }
  throw Malformed{"unknown frame type " + std::to_string(e[0].via.u64)};
}

uint32_t read_length(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

}  // namespace

FrameType frame_type(const Frame& frame) {
  return static_cast<FrameType>(frame.index() + 1);
}

const char* frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::Hello: return "Hello";
    case FrameType::Configure: return "Configure";
    case FrameType::Publish: return "Publish";
    case FrameType::Ack: return "Ack";
    case FrameType::Nack: return "Nack";
    case FrameType::Stats: return "Stats";
    case FrameType::Shutdown: return "Shutdown";
  }
  return "?";
}

size_t publish_frame_bound(const Publish& message) {
  // Every msgpack header here (array, integers, string and map lengths) is at most 9 bytes.
  constexpr size_t kHeader = 9;
  size_t bytes = kLengthBytes + 4 * kHeader + message.routing_key.size() + message.body.size() +
                 message.message_id.size() + 4 * kHeader;
  for (const auto& [key, value] : message.headers) bytes += 2 * kHeader + key.size() + value.size();
  return bytes;
}

namespace {

void write_length(std::string& out, size_t start, size_t length) {
  for (size_t i = 0; i < kLengthBytes; ++i) {
    out[start + i] = static_cast<char>((length >> (8 * (kLengthBytes - 1 - i))) & 0xff);
  }
}

}  // namespace

void encode_frame(const Frame& frame, std::string& out) {
  size_t start = out.size();
  out.append(kLengthBytes, '\0');
  StringSink sink{out};
  Packer packer(sink);
  std::visit(BodyPacker{packer, out}, frame);
  write_length(out, start, out.size() - start - kLengthBytes);
}

size_t encode_publish_around_body(const Publish& message, std::string& out) {
  size_t start = out.size();
  out.append(kLengthBytes, '\0');
  StringSink sink{out};
  Packer packer(sink);
  size_t body_at = BodyPacker{packer, out}.publish(message, /*body_bytes=*/false);
  write_length(out, start, out.size() - start - kLengthBytes + message.body.size());
  return body_at;
}

std::optional<Frame> decode_frame_body(std::string_view bytes, std::string& error) {
  msgpack::unpack_limit limit(kMaxArrayElements, kMaxMapEntries, kMaxFrameBytes, kMaxFrameBytes,
                              0, kMaxDepth);
  // One zone for every frame a thread decodes: msgpack's objects live only until read_frame has
  // copied them out, and a zone of its own per frame cost a malloc and a free of an 8 KiB chunk
  // each time. clear() keeps the first chunk and frees what a large frame added.
  static thread_local msgpack::zone zone;
  struct Cleared {
    ~Cleared() { zone.clear(); }
  } cleared;
  try {
    size_t offset = 0;
    // Strings refer to `bytes` instead of being copied into msgpack's zone: read_frame copies
    // each once, into the Frame, while `bytes` is still there.
    bool referenced = false;
    auto refer = [](msgpack::type::object_type, std::size_t, void*) { return true; };
    msgpack::object object =
        msgpack::unpack(zone, bytes.data(), bytes.size(), offset, referenced, refer, nullptr, limit);
    if (offset != bytes.size()) {
      error = "frame has " + std::to_string(bytes.size() - offset) + " bytes after its array";
      return std::nullopt;
    }
    return read_frame(object);
  } catch (const Malformed& m) {
    error = m.why;
  } catch (const msgpack::insufficient_bytes&) {
    error = "frame ends inside a msgpack value";
  } catch (const msgpack::depth_size_overflow&) {
    error = "frame is nested too deeply";
  } catch (const msgpack::size_overflow& e) {
    error = std::string("frame exceeds a size limit: ") + e.what();
  } catch (const msgpack::unpack_error& e) {
    error = std::string("frame is not valid msgpack: ") + e.what();
  } catch (const std::bad_alloc&) {
    error = "frame asks for more memory than is available";
  }
  return std::nullopt;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (start_ > 0 && start_ == buffer_.size()) drop_consumed();
  buffer_.append(bytes.data(), bytes.size());
}

// Empties the buffer; one a large frame grew is given back rather than kept for ever.
void FrameDecoder::drop_consumed() {
  if (buffer_.capacity() > kKeptBufferBytes) {
    std::string().swap(buffer_);
  } else {
    buffer_.clear();
  }
  start_ = 0;
}

FrameDecoder::Status FrameDecoder::next(Frame& frame) {
  if (!error_.empty()) return Status::Error;
  size_t available = buffer_.size() - start_;
  if (available < kLengthBytes) return Status::NeedMore;
  uint32_t length = read_length(buffer_.data() + start_);
  if (length == 0) return fail("frame of length 0");
  if (length > max_frame_bytes_) {
    return fail("frame of " + std::to_string(length) + " bytes is larger than the limit of " +
                std::to_string(max_frame_bytes_) + " bytes");
  }
  if (available < kLengthBytes + length) {
    // A large frame is read into room made once, not by doubling the buffer as it comes.
    if (length > kKeptBufferBytes) buffer_.reserve(start_ + kLengthBytes + length);
    return Status::NeedMore;
  }
  std::string problem;
  std::optional<Frame> decoded =
      decode_frame_body(std::string_view(buffer_).substr(start_ + kLengthBytes, length), problem);
  if (!decoded) return fail(problem);
  frame = std::move(*decoded);
  start_ += kLengthBytes + length;
  // Drop consumed bytes once they are the larger part, so the buffer neither grows without
  // bound nor is copied on every frame.
  if (start_ == buffer_.size()) {
    drop_consumed();
  } else if (start_ > buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return Status::Ready;
}

FrameDecoder::Status FrameDecoder::fail(std::string message) {
  error_ = std::move(message);
  return Status::Error;
}

}  // namespace pgep::ipc
