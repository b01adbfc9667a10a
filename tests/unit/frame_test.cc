// The frame codec: round trips, reads split anywhere, the size limit, and garbage.
#include <catch2/catch.hpp>
#include <random>

#include "ipc/frame_codec.h"

using namespace pgep::ipc;

namespace {

std::vector<Frame> sample_frames() {
  Publish publish{42, "user.#.*", std::string("body|with\0nul\xff", 15), "0/16B3748-3", 1700000000123456,
                  {{"pg_channel", "events"}}};
  return {Hello{kProtocolVersion, 1234},
          Configure{"amqp/events->exchange:amq.topic", {{"uri", "amqp://h/"}, {"kind", "amqp"}}},
          publish,
          Publish{},
          Ack{UINT64_MAX},
          Nack{7, "NOT_FOUND - no exchange 'x'", false},
          Stats{{{"published", 10}, {"confirmed", 9}}},
          Shutdown{}};
}

bool same(const Frame& a, const Frame& b) {
  if (a.index() != b.index()) return false;
  std::string ea, eb;
  encode_frame(a, ea);
  encode_frame(b, eb);
  return ea == eb;
}

std::vector<Frame> decode_all(FrameDecoder& decoder) {
  std::vector<Frame> out;
  Frame frame;
  while (decoder.next(frame) == FrameDecoder::Status::Ready) out.push_back(frame);
  return out;
}

std::string with_length(const std::string& body) {
  std::string out(4, '\0');
  uint32_t n = static_cast<uint32_t>(body.size());
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + body;
}

struct Case {
  // Built from the literal's full length: the bodies hold NUL bytes.
  template <size_t N>
  Case(const char (&bytes)[N], std::string expected) : body(bytes, N - 1), says(std::move(expected)) {}
  std::string body;
  std::string says;
};

FrameDecoder::Status decode_one(const std::string& wire, std::string& error) {
  FrameDecoder decoder;
  decoder.feed(wire);
  Frame frame;
  auto status = decoder.next(frame);
  error = decoder.error();
  return status;
}

}  // namespace

TEST_CASE("every frame type survives a round trip, fields intact") {
  for (const Frame& frame : sample_frames()) {
    std::string wire;
    encode_frame(frame, wire);
    FrameDecoder decoder;
    decoder.feed(wire);
    auto decoded = decode_all(decoder);
    REQUIRE(decoded.size() == 1);
    CHECK(same(decoded[0], frame));
    CHECK(decoder.buffered() == 0);
  }
  Publish p = std::get<Publish>(sample_frames()[2]);
  std::string wire;
  encode_frame(p, wire);
  FrameDecoder decoder;
  decoder.feed(wire);
  Frame frame;
  REQUIRE(decoder.next(frame) == FrameDecoder::Status::Ready);
  const Publish& q = std::get<Publish>(frame);
  CHECK(q.seq == 42);
  CHECK(q.body == p.body);
  CHECK(q.body.size() == 15);
  CHECK(q.routing_key == "user.#.*");
  CHECK(q.timestamp_us == 1700000000123456u);
  CHECK(q.headers.at("pg_channel") == "events");
}

TEST_CASE("many frames in one buffer, read back split at every possible boundary") {
  std::string wire;
  auto frames = sample_frames();
  for (const Frame& f : frames) encode_frame(f, wire);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    FrameDecoder decoder;
    decoder.feed(std::string_view(wire).substr(0, cut));
    auto first = decode_all(decoder);
    decoder.feed(std::string_view(wire).substr(cut));
    auto second = decode_all(decoder);
    first.insert(first.end(), second.begin(), second.end());
    REQUIRE(first.size() == frames.size());
    CHECK(decoder.error().empty());
  }
}

TEST_CASE("frames fed one byte at a time and in random pieces") {
  std::string wire;
  for (int i = 0; i < 200; ++i) encode_frame(Publish{static_cast<uint64_t>(i), "k", std::string(i * 37, 'x'), "id", 0, {}}, wire);
  std::mt19937 rng(7);
  FrameDecoder decoder;
  size_t pos = 0;
  uint64_t expect = 0;
  while (pos < wire.size()) {
    size_t n = std::min<size_t>(wire.size() - pos, rng() % 300 + 1);
    decoder.feed(std::string_view(wire).substr(pos, n));
    pos += n;
    for (const Frame& f : decode_all(decoder)) CHECK(std::get<Publish>(f).seq == expect++);
  }
  CHECK(expect == 200);
  FrameDecoder bytewise;
  size_t count = 0;
  for (char c : wire.substr(0, 5000)) {
    bytewise.feed(std::string_view(&c, 1));
    count += decode_all(bytewise).size();
  }
  CHECK(count > 0);
  CHECK(bytewise.error().empty());
}

TEST_CASE("an oversize length is refused before its bytes arrive") {
  FrameDecoder decoder(1024);
  decoder.feed(std::string("\x00\x00\x04\x01", 4));
  Frame frame;
  CHECK(decoder.next(frame) == FrameDecoder::Status::Error);
  CHECK(decoder.error().find("larger than the limit of 1024") != std::string::npos);
  // The stream stays failed: its framing is lost.
  decoder.feed(std::string("\x00\x00\x00\x01\x90", 5));
  CHECK(decoder.next(frame) == FrameDecoder::Status::Error);

  std::string error;
  CHECK(decode_one(std::string("\xff\xff\xff\xff", 4), error) == FrameDecoder::Status::Error);
  CHECK(decode_one(std::string("\x00\x00\x00\x00", 4), error) == FrameDecoder::Status::Error);
  CHECK(error == "frame of length 0");
}

TEST_CASE("a frame that is too big for the limit is refused by the encoder's peer") {
  std::string wire;
  encode_frame(Publish{1, "k", std::string(2000, 'b'), "", 0, {}}, wire);
  FrameDecoder decoder(1024);
  decoder.feed(wire);
  Frame frame;
  CHECK(decoder.next(frame) == FrameDecoder::Status::Error);
}

TEST_CASE("malformed frames are errors that say what is wrong") {
  std::string error;
  std::vector<Case> cases = {
      {"\xc1", "not valid msgpack"},                        // never-used byte
      {"\x91", "ends inside"},                              // array(1) without its element
      {"\x01", "not a non-empty array"},                    // an integer
      {"\x90", "not a non-empty array"},                    // empty array
      {"\x91\x09", "unknown frame type 9"},
      {"\x91\x00", "unknown frame type 0"},
      {"\x91\xa1x", "frame type is not an unsigned integer"},
      {"\x92\x04\xa1x", "seq is not an unsigned integer"},
      {"\x93\x04\x01\x02", "Ack frame has 3 elements, expected 2"},
      {"\x92\x04\xff", "seq is not an unsigned integer"},   // negative fixint
      {"\x93\x01\x01\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "pid is out of range"},
      {"\x92\x04\x01\x00", "bytes after its array"},
      {"\x94\x05\x01\xa1x\x01", "retryable is not a boolean"},
      {"\x93\x02\xa1x\x01", "settings is not a map"},
      {"\x93\x02\xa1x\x82\xa1k\xa1v\xa1k\xa1w", "holds the key \"k\" twice"},
      {"\xdd\xff\xff\xff\xff", "size limit"},               // array of 4 billion elements
      {"\x93\x02\xa1x\xdf\xff\xff\xff\xff", "size limit"},  // map of 4 billion entries
      {"\x91\x91\x91\x91\x91\x01", "nested too deeply"},
      {"\x92\x04\xc7\x01\x01\x00", "size limit"},           // ext types are not used
  };
  for (const Case& c : cases) {
    INFO("body " << c.body.size() << " bytes, expecting: " << c.says);
    CHECK(decode_one(with_length(c.body), error) == FrameDecoder::Status::Error);
    CHECK(error.find(c.says) != std::string::npos);
  }
}

TEST_CASE("random garbage never crashes the decoder") {
  std::mt19937 rng(1);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    FrameDecoder decoder(4096);
    decoder.feed(with_length(junk));
    decoder.feed(junk);
    decode_all(decoder);
  }
  SUCCEED();
}

TEST_CASE("a Publish encoded around its body is the frame encode_frame writes, body put back") {
  for (size_t body_size : {size_t{0}, size_t{5}, size_t{300}, size_t{70000}, size_t{1} << 17}) {
    Publish publish{9, "a.b", std::string(body_size, 'x'), "id-9", 123, {{"pg_channel", "c"}}};
    std::string whole;
    encode_frame(publish, whole);
    std::string around = "prefix";
    size_t offset = encode_publish_around_body(publish, around);
    around.insert(offset, publish.body);
    CHECK(around == "prefix" + whole);
    CHECK(publish_frame_bound(publish) >= whole.size());
  }
}
