// A connected UNIX stream socket that closes itself: pgep-ctl's line to pgep, and the probe by
// which pgep tells a live control socket from one a killed pgep left behind.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace pgep {

// Writes all of `data` to `fd`, going on after a short write or EINTR; false (errno set) when
// it could not. The socket below and the state file both write with it.
bool write_all(int fd, std::string_view data);

class UnixSocket {
 public:
  UnixSocket() = default;
  UnixSocket(UnixSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UnixSocket& operator=(UnixSocket&& other) noexcept;
  UnixSocket(const UnixSocket&) = delete;
  UnixSocket& operator=(const UnixSocket&) = delete;
  ~UnixSocket() { close(); }

  // Connects to `path`; on failure the socket is not open and `error` says why.
  static UnixSocket connect(const std::string& path, std::string& error);

  bool is_open() const { return fd_ >= 0; }
  // Writes all of `data`; false (errno set) when it could not.
  bool write_all(const std::string& data);
  // Reads until the peer closes; false (errno set) on a read error.
  bool read_all(std::string& out);
  void close();

 private:
  explicit UnixSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace pgep
