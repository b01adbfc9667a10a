// Resolves the host names of a libpq connection string off the loop (uv_getaddrinfo, on
// libuv's thread pool), for PgConnection to pass as `hostaddr`: libpq itself resolves with a
// blocking getaddrinfo, which would freeze the supervisor — acknowledgements, the walsender's
// status updates, the control socket — for as long as a sick resolver takes.
//
// Called by: PgConnection. Calls back: Done, from the loop, once per start() unless cancelled.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

namespace pgep {

// What the connection string says of its hosts.
struct HostList {
  std::vector<std::string> hosts;  // names, numeric addresses, or socket directories
  bool has_hostaddr = false;       // the string gives its own hostaddr: nothing to resolve
  std::string sslmode;             // as given, empty when the string does not say
};
HostList hosts_of(const std::string& conninfo);
// libpq's comma-separated host list ("a,b,/run/postgresql"), as libpq splits it.
std::vector<std::string> split_host_list(const std::string& hosts);
// Whether `host` needs resolving: not a socket directory, not a numeric address.
bool is_host_name(const std::string& host);

class HostLookup {
 public:
  // The `hostaddr` value (one address per host, "" for those that need none), or an error.
  using Done = std::function<void(const std::string& hostaddr, const std::string& error)>;

  explicit HostLookup(uv_loop_t* loop) : loop_(loop) {}
  ~HostLookup() { cancel(); }
  HostLookup(const HostLookup&) = delete;
  HostLookup& operator=(const HostLookup&) = delete;

  void start(std::vector<std::string> hosts, Done done);
  void cancel();

 private:
  struct Request;  // outlives a cancel: libuv calls back once, whatever happens
  void next();
  void on_resolved(int status, const struct addrinfo* result);

  uv_loop_t* loop_;
  std::vector<std::string> hosts_;
  std::vector<std::string> addresses_;
  Done done_;
  Request* pending_ = nullptr;
};

}  // namespace pgep
