// NextTurn: what one loop turn asked for many times runs once, at the next turn, never inside
// request(); asked for again from its own run, it runs once more.
#include <catch2/catch.hpp>

#include <uv.h>

#include "shared/next_turn.h"

using pgep::NextTurn;

TEST_CASE("next_turn runs once however often it was requested, and never inside request()") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    int runs = 0;
    NextTurn turn(&loop, [&] { ++runs; });
    turn.request();
    turn.request();
    turn.request();
    CHECK(runs == 0);
    CHECK(turn.requested());
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(runs == 1);
    CHECK_FALSE(turn.requested());
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(runs == 1);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("next_turn requested from its own run runs again at the following turn; cancel() stops it") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    int runs = 0;
    NextTurn* self = nullptr;
    NextTurn turn(&loop, [&] {
      if (++runs < 3) self->request();
    });
    self = &turn;
    turn.request();
    uv_run(&loop, UV_RUN_DEFAULT);  // ends when nothing is requested any more
    CHECK(runs == 3);
    turn.request();
    turn.cancel();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(runs == 3);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
