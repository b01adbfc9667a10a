// Drives a hiredis async connection from a libuv loop. hiredis 0.14's own libuv adapter
// ignores a poll error, and libuv reports a refused or reset connection exactly so (UV_EBADF
// after POLLERR): the connection then hangs with no callback at all. This glue hands such
// errors to hiredis, which reads the socket's error and reports it through its callbacks.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

namespace pgep {

// Attaches `context` to `loop`; returns REDIS_OK or REDIS_ERR.
int attach_redis_to_loop(redisAsyncContext* context, uv_loop_t* loop);

}  // namespace pgep
