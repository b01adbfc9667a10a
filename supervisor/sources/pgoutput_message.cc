#include "supervisor/sources/pgoutput_message.h"

#include <cstring>

namespace pgep {

namespace {

// Reads big-endian integers and strings off the front of a message; the first read past the
// end sets `failed` and everything after reads as zero.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  uint64_t u64() { return unsigned_of(8); }
  uint32_t u32() { return static_cast<uint32_t>(unsigned_of(4)); }
  uint16_t u16() { return static_cast<uint16_t>(unsigned_of(2)); }
  uint8_t u8() { return static_cast<uint8_t>(unsigned_of(1)); }

  std::string_view string() {
    const void* nul = failed_ ? nullptr : std::memchr(bytes_.data() + at_, '\0', bytes_.size() - at_);
    if (!nul) return fail();
    size_t length = static_cast<const char*>(nul) - (bytes_.data() + at_);
    std::string_view text = bytes_.substr(at_, length);
    at_ += length + 1;
    return text;
  }

  std::string_view bytes(uint64_t length) {
    if (failed_ || length > bytes_.size() - at_) return fail();
    std::string_view text = bytes_.substr(at_, length);
    at_ += length;
    return text;
  }

  bool failed() const { return failed_; }
  bool at_end() const { return at_ == bytes_.size(); }
  size_t offset() const { return at_; }

 private:
  uint64_t unsigned_of(size_t width) {
    if (failed_ || width > bytes_.size() - at_) {
      fail();
      return 0;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<unsigned char>(bytes_[at_ + i]);
    at_ += width;
    return value;
  }

  std::string_view fail() {
    failed_ = true;
    return {};
  }

  std::string_view bytes_;
  size_t at_ = 0;
  bool failed_ = false;
};

bool read_tuple(Reader& in, std::vector<PgoutputValue>& values, std::string& error) {
  uint16_t count = in.u16();
  values.resize(count);
  for (PgoutputValue& value : values) {
    value.kind = static_cast<char>(in.u8());
    if (in.failed()) return true;  // the caller reports a message cut short
    value.text = {};
    if (value.kind == 't' || value.kind == 'b') {
      value.text = in.bytes(in.u32());
    } else if (value.kind != 'n' && value.kind != 'u') {
      error = std::string("a column of kind '") + value.kind + "' (expected n, u or t)";
      return false;
    }
    if (value.kind == 'b' && !in.failed()) {
      error = "a column in binary form, which pgep did not ask for";
      return false;
    }
  }
  return true;
}

bool read_relation(Reader& in, PgoutputMessage& out) {
  out.oid = in.u32();
  out.nspname = in.string();
  out.name = in.string();
  out.replica_identity = static_cast<char>(in.u8());
  out.columns.resize(in.u16());  // at most 65535: a count that lies fails at its first missing byte
  for (PgoutputColumn& column : out.columns) {
    column.key = (in.u8() & 1) != 0;
    column.name = std::string(in.string());
    column.type_oid = in.u32();
    column.typmod = static_cast<int32_t>(in.u32());
    if (in.failed()) return false;
  }
  return true;
}

bool read_change(Reader& in, char type, PgoutputMessage& out, std::string& error) {
  out.oid = in.u32();
  out.old_kind = 0;
  out.old_values.clear();
  out.new_values.clear();
  char part = static_cast<char>(in.u8());
  if (type != 'I' && (part == 'K' || part == 'O')) {
    out.old_kind = part;
    if (!read_tuple(in, out.old_values, error)) return false;
    if (type == 'D') return true;
    part = static_cast<char>(in.u8());
  }
  if (type == 'D') {
    error = "a delete without its old tuple";
    return false;
  }
  if (part != 'N') {
    if (!in.failed()) error = std::string("'") + part + "' where the new tuple ('N') was expected";
    return in.failed();
  }
  return read_tuple(in, out.new_values, error);
}

}  // namespace

bool parse_pgoutput_message(std::string_view bytes, PgoutputMessage& out, std::string& error) {
  error.clear();
  if (bytes.empty()) {
    error = "an empty message";
    return false;
  }
  Reader in(bytes.substr(1));
  char type = bytes[0];
  bool ok = true;
  switch (type) {
    case 'B':
      out.kind = PgoutputMessage::Kind::Begin;
      out.lsn = in.u64();
      out.timestamp_us = static_cast<int64_t>(in.u64());
      out.xid = in.u32();
      break;
    case 'C':
      out.kind = PgoutputMessage::Kind::Commit;
      in.u8();  // flags, unused
      out.lsn = in.u64();
      out.end_lsn = in.u64();
      out.timestamp_us = static_cast<int64_t>(in.u64());
      break;
    case 'O':
      out.kind = PgoutputMessage::Kind::Origin;
      out.lsn = in.u64();
      out.nspname = in.string();
      break;
    case 'R':
      out.kind = PgoutputMessage::Kind::Relation;
      ok = read_relation(in, out);
      break;
    case 'Y':
      out.kind = PgoutputMessage::Kind::Type;
      out.oid = in.u32();
      out.nspname = in.string();
      out.name = in.string();
      break;
    case 'I':
    case 'U':
    case 'D':
      out.kind = type == 'I' ? PgoutputMessage::Kind::Insert
                 : type == 'U' ? PgoutputMessage::Kind::Update
                               : PgoutputMessage::Kind::Delete;
      ok = read_change(in, type, out, error);
      break;
    case 'T': {
      out.kind = PgoutputMessage::Kind::Truncate;
      uint32_t count = in.u32();
      in.u8();  // options: CASCADE, RESTART IDENTITY
      out.relations.clear();
      for (uint32_t i = 0; i < count && !in.failed(); ++i) out.relations.push_back(in.u32());
      break;
    }
    case 'M':
      out.kind = PgoutputMessage::Kind::Message;
      out.transactional = (in.u8() & 1) != 0;
      out.lsn = in.u64();
      out.prefix = in.string();
      out.content = in.bytes(in.u32());
      break;
    default:
      error = std::string("a message of type '") + (type >= ' ' && type < 127 ? std::string(1, type) : "?") +
              "' (" + std::to_string(static_cast<unsigned char>(type)) +
              "), which pgep did not ask for (no streaming, no two-phase)";
      return false;
  }
  if (!error.empty()) return false;
  if (!ok || in.failed()) {
    error = std::string("a '") + type + "' message cut short (" + std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  if (!in.at_end()) {
    error = std::string("a '") + type + "' message with " + std::to_string(bytes.size() - 1 - in.offset()) +
            " byte(s) after its end";
    return false;
  }
  return true;
}

}  // namespace pgep
