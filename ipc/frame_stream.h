// A framed connection over a UNIX stream socket on a libuv loop, used by both ends of a
// supervisor-worker socketpair. Incoming bytes are decoded whatever their read boundaries;
// outgoing frames are appended to a buffer and written together, many frames per write.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "ipc/frame_codec.h"

namespace pgep::ipc {

class FrameStream {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void on_frame(Frame&& frame) = 0;
    // The peer closed, a read or write failed, or a frame was malformed. No frame follows.
    virtual void on_stream_closed(const std::string& reason) = 0;
  };

  // Destroying the pointer closes the socket; the memory is freed once libuv is done with it.
  struct Closer {
    void operator()(FrameStream* stream) const { stream->close(); }
  };
  using Ptr = std::unique_ptr<FrameStream, Closer>;

  FrameStream(const FrameStream&) = delete;
  FrameStream& operator=(const FrameStream&) = delete;

  // Takes ownership of `fd`. Throws std::runtime_error when libuv refuses it.
  static Ptr open(uv_loop_t* loop, int fd, Handler* handler);

  // Appends a frame to the output buffer. Nothing is written until flush().
  void send(const Frame& frame);
  // The same for a Publish whose body is written from where it is, not copied: `message.body`
  // must stay where it is, unchanged, until the peer has read the frame (the supervisor's
  // ledger keeps an entry until its worker acknowledged it, which it can only do after reading
  // all of it; a closed stream writes nothing more).
  void send_by_reference(const Publish& message);
  // Starts writing what was appended, unless a write is under way (its completion continues).
  void flush();
  // Bytes appended or being written but not yet handed to the kernel.
  size_t pending_bytes() const { return queued_.size() + writing_.size() + referenced_bytes_; }
  bool closed() const { return failed_; }

 private:
  FrameStream(Handler* handler) : handler_(handler) {}
  void close();
  void start_read();
  void fail(const std::string& reason);
  void written();
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* request, int status);
  static void on_close(uv_handle_t* handle);

  uv_pipe_t pipe_{};
  uv_write_t write_request_{};
  Handler* handler_;
  FrameDecoder decoder_;
  std::string read_buffer_;
  // A body written from where it is, between queued_[..offset) and queued_[offset..).
  struct Reference {
    size_t offset;
    const char* data;
    size_t size;
  };
  std::string queued_;   // appended since the last write started
  std::string writing_;  // handed to uv_write, kept alive until its callback
  std::vector<Reference> queued_references_, writing_references_;
  size_t referenced_bytes_ = 0;  // the sizes of both
  bool failed_ = false;
  bool closing_ = false;
};

}  // namespace pgep::ipc
