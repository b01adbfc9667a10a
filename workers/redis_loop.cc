#include "workers/redis_loop.h"

namespace pgep {

namespace {

struct RedisPoll {
  redisAsyncContext* context;
  uv_poll_t handle;
  int events = 0;
};

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* p = static_cast<RedisPoll*>(handle->data);
  if (status < 0) {
    // libuv stopped the handle (POLLERR): what hiredis asks for next must start it again.
    p->events = 0;
    // Let hiredis find the error itself (SO_ERROR while connecting, a failed read after).
    if (p->context) redisAsyncHandleRead(p->context);
    return;
  }
  if (p->context && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

// hiredis asks for write interest at every command; libuv turns each uv_poll_start into an
// epoll_ctl, so only a change of interest reaches it.
void set_events(RedisPoll* p, int events) {
  if (events == p->events) return;
  p->events = events;
  if (events) {
    uv_poll_start(&p->handle, events, on_poll);
  } else {
    uv_poll_stop(&p->handle);
  }
}

void add_read(void* data) {
  auto* p = static_cast<RedisPoll*>(data);
  set_events(p, p->events | UV_READABLE);
}

void del_read(void* data) {
  auto* p = static_cast<RedisPoll*>(data);
  set_events(p, p->events & ~UV_READABLE);
}

void add_write(void* data) {
  auto* p = static_cast<RedisPoll*>(data);
  set_events(p, p->events | UV_WRITABLE);
}

void del_write(void* data) {
  auto* p = static_cast<RedisPoll*>(data);
  set_events(p, p->events & ~UV_WRITABLE);
}

// hiredis is freeing the context: stop and free the poll handle once libuv lets go of it.
void cleanup(void* data) {
  auto* p = static_cast<RedisPoll*>(data);
  p->context = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
           [](uv_handle_t* h) { delete static_cast<RedisPoll*>(h->data); });
}

}  // namespace

int attach_redis_to_loop(redisAsyncContext* context, uv_loop_t* loop) {
  if (context->ev.data != nullptr) return REDIS_ERR;
  auto* p = new RedisPoll{context, {}, 0};
  if (uv_poll_init_socket(loop, &p->handle, context->c.fd) != 0) {
    delete p;
    return REDIS_ERR;
  }
  p->handle.data = p;
  context->ev.addRead = add_read;
  context->ev.delRead = del_read;
  context->ev.addWrite = add_write;
  context->ev.delWrite = del_write;
  context->ev.cleanup = cleanup;
  context->ev.data = p;
  return REDIS_OK;
}

}  // namespace pgep
