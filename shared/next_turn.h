// Runs a function once at the event loop's next turn, however often it was asked for in this
// one: what many events of one turn ask for (a write to a socket, an acknowledgement) is done
// once for all of them. A libuv idle handle: it runs before the loop polls, and keeps that poll
// from blocking, so nothing waits longer than the rest of the current turn.
#pragma once

#include <uv.h>

#include <functional>

#include "shared/uv_handle.h"

namespace pgep {

class NextTurn {
 public:
  NextTurn(uv_loop_t* loop, std::function<void()> run);

  void request();
  void cancel();
  bool requested() const { return requested_; }

 private:
  UvHandle<uv_idle_t> idle_;
  std::function<void()> run_;
  bool requested_ = false;
};

}  // namespace pgep
