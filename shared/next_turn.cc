#include "shared/next_turn.h"

#include <utility>

namespace pgep {

NextTurn::NextTurn(uv_loop_t* loop, std::function<void()> run)
    : idle_([loop](uv_idle_t* i) { return uv_idle_init(loop, i); }), run_(std::move(run)) {
  idle_.get()->data = this;
}

void NextTurn::request() {
  if (requested_) return;
  requested_ = true;
  uv_idle_start(idle_.get(), [](uv_idle_t* i) {
    auto* self = static_cast<NextTurn*>(i->data);
    if (!self) return;
    self->cancel();
    self->run_();  // may request again: it then runs at the turn after
  });
}

void NextTurn::cancel() {
  if (!requested_) return;
  requested_ = false;
  uv_idle_stop(idle_.get());
}

}  // namespace pgep
