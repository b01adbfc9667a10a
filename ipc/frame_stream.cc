#include "ipc/frame_stream.h"

#include <unistd.h>

#include <stdexcept>

namespace pgep::ipc {

namespace {
// One read takes at most this much; a burst of Acks is tiny, a burst of Publish frames is not.
constexpr size_t kReadChunk = 256 * 1024;
}  // namespace

FrameStream::Ptr FrameStream::open(uv_loop_t* loop, int fd, Handler* handler) {
  Ptr stream(new FrameStream(handler));
  int status = uv_pipe_init(loop, &stream->pipe_, 0);
  if (status != 0) {
    ::close(fd);
    delete stream.release();  // never initialised: nothing for libuv to close
    throw std::runtime_error(std::string("cannot use the worker socket: ") + uv_strerror(status));
  }
  stream->pipe_.data = stream.get();
  status = uv_pipe_open(&stream->pipe_, fd);
  if (status != 0) {
    ::close(fd);
    throw std::runtime_error(std::string("cannot use the worker socket: ") + uv_strerror(status));
  }
  stream->read_buffer_.resize(kReadChunk);
  stream->start_read();
  return stream;
}

void FrameStream::start_read() {
  int status = uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), on_alloc, on_read);
  if (status != 0) fail(std::string("cannot read: ") + uv_strerror(status));
}

void FrameStream::send(const Frame& frame) {
  if (failed_) return;
  encode_frame(frame, queued_);
}

void FrameStream::send_by_reference(const Publish& message) {
  if (failed_) return;
  size_t offset = encode_publish_around_body(message, queued_);
  queued_references_.push_back(Reference{offset, message.body.data(), message.body.size()});
  referenced_bytes_ += message.body.size();
}

void FrameStream::flush() {
  if (failed_ || !writing_.empty() || queued_.empty()) return;
  writing_.swap(queued_);
  writing_references_.swap(queued_references_);
  // The buffer's pieces with the referenced bodies between them (libuv copies this list).
  std::vector<uv_buf_t> buffers;
  size_t from = 0;
  for (const Reference& r : writing_references_) {
    buffers.push_back(uv_buf_init(writing_.data() + from, static_cast<unsigned>(r.offset - from)));
    buffers.push_back(uv_buf_init(const_cast<char*>(r.data), static_cast<unsigned>(r.size)));
    from = r.offset;
  }
  buffers.push_back(uv_buf_init(writing_.data() + from, static_cast<unsigned>(writing_.size() - from)));
  int status = uv_write(&write_request_, reinterpret_cast<uv_stream_t*>(&pipe_), buffers.data(),
                        static_cast<unsigned>(buffers.size()), on_write);
  if (status != 0) {
    written();
    fail(std::string("cannot write: ") + uv_strerror(status));
  }
}

// The write is done (or failed): its buffer is emptied, and given back if a large frame grew it.
void FrameStream::written() {
  if (writing_.capacity() > kKeptBufferBytes) {
    std::string().swap(writing_);
  } else {
    writing_.clear();
  }
  for (const Reference& r : writing_references_) referenced_bytes_ -= r.size;
  writing_references_.clear();
}

void FrameStream::fail(const std::string& reason) {
  if (failed_) return;
  failed_ = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
  if (handler_) handler_->on_stream_closed(reason);
}

void FrameStream::close() {
  if (closing_) return;
  closing_ = true;
  handler_ = nullptr;
  failed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), on_close);
}

void FrameStream::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<FrameStream*>(handle->data);
  *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(self->read_buffer_.size()));
}

void FrameStream::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<FrameStream*>(stream->data);
  if (nread == UV_EOF) return self->fail("the peer closed the socket");
  if (nread < 0) return self->fail(std::string("read failed: ") + uv_strerror(static_cast<int>(nread)));
  self->decoder_.feed(std::string_view(buf->base, static_cast<size_t>(nread)));
  Frame frame;
  while (!self->failed_) {
    FrameDecoder::Status status = self->decoder_.next(frame);
    if (status == FrameDecoder::Status::NeedMore) break;
    if (status == FrameDecoder::Status::Error) return self->fail("malformed frame: " + self->decoder_.error());
    if (self->handler_) self->handler_->on_frame(std::move(frame));
  }
}

void FrameStream::on_write(uv_write_t* request, int status) {
  auto* self = static_cast<FrameStream*>(request->handle->data);
  self->written();
  if (self->closing_) return;
  if (status != 0) return self->fail(std::string("write failed: ") + uv_strerror(status));
  self->flush();
}

void FrameStream::on_close(uv_handle_t* handle) { delete static_cast<FrameStream*>(handle->data); }

}  // namespace pgep::ipc
