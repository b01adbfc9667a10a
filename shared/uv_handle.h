// RAII for libuv handles. libuv frees nothing itself and a handle's memory must outlive
// uv_close() until its close callback runs, so a UvHandle owns a heap-allocated handle and, on
// destruction, closes it and frees it from the close callback.
#pragma once

#include <uv.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace pgep {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;

  // `init` is the uv_*_init call for this handle, e.g.
  //   UvHandle<uv_timer_t> timer([&](uv_timer_t* t) { return uv_timer_init(loop, t); });
  template <typename Init>
  explicit UvHandle(Init&& init) : handle_(new T{}) {
    int status = init(handle_);
    if (status != 0) {
      // Some inits (uv_spawn) register the handle before failing; such a one must be closed.
      if (base()->type != UV_UNKNOWN_HANDLE) {
        reset();
      } else {
        delete handle_;
        handle_ = nullptr;
      }
      throw std::runtime_error(uv_strerror(status));
    }
  }

  UvHandle(UvHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { reset(); }

  T* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }
  uv_handle_t* base() const { return reinterpret_cast<uv_handle_t*>(handle_); }

  void reset() {
    if (!handle_) return;
    base()->data = nullptr;  // no callback may reach the owner any more
    uv_close(base(), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
    handle_ = nullptr;
  }

 private:
  T* handle_ = nullptr;
};

}  // namespace pgep
