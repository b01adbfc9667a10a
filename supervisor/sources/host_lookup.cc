#include "supervisor/sources/host_lookup.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace pgep {

struct HostLookup::Request {
  uv_getaddrinfo_t req;
  HostLookup* owner;
};

HostList hosts_of(const std::string& conninfo) {
  HostList list;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(conninfo.c_str(), nullptr),
                                                                       &PQconninfoFree);
  if (!options) return list;  // libpq says why when it connects
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val || !*o->val) continue;
    if (std::strcmp(o->keyword, "hostaddr") == 0) list.has_hostaddr = true;
    if (std::strcmp(o->keyword, "sslmode") == 0) list.sslmode = o->val;
    if (std::strcmp(o->keyword, "host") == 0) list.hosts = split_host_list(o->val);
  }
  return list;
}

std::vector<std::string> split_host_list(const std::string& hosts) {
  std::vector<std::string> list;
  for (size_t start = 0; start <= hosts.size();) {
    size_t comma = std::min(hosts.find(',', start), hosts.size());
    list.push_back(hosts.substr(start, comma - start));
    start = comma + 1;
  }
  return list;
}

bool is_host_name(const std::string& host) {
  if (host.empty() || host[0] == '/' || host[0] == '@') return false;  // a socket (or abstract) path
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) != 1 && inet_pton(AF_INET6, host.c_str(), buffer) != 1;
}

void HostLookup::start(std::vector<std::string> hosts, Done done) {
  cancel();
  hosts_ = std::move(hosts);
  addresses_.clear();
  done_ = std::move(done);
  next();
}

void HostLookup::cancel() {
  if (!pending_) return;
  pending_->owner = nullptr;  // its callback frees it
  uv_cancel(reinterpret_cast<uv_req_t*>(&pending_->req));
  pending_ = nullptr;
}

void HostLookup::next() {
  while (addresses_.size() < hosts_.size() && !is_host_name(hosts_[addresses_.size()])) addresses_.emplace_back();
  if (addresses_.size() == hosts_.size()) {
    std::string hostaddr;
    for (size_t i = 0; i < addresses_.size(); ++i) hostaddr += (i ? "," : "") + addresses_[i];
    return done_(hostaddr, "");
  }
  auto* request = new Request{{}, this};
  request->req.data = request;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int status = uv_getaddrinfo(loop_, &request->req, [](uv_getaddrinfo_t* req, int result, addrinfo* info) {
    std::unique_ptr<Request> done(static_cast<Request*>(req->data));
    if (done->owner) {
      done->owner->pending_ = nullptr;
      done->owner->on_resolved(result, info);
    }
    uv_freeaddrinfo(info);
  }, hosts_[addresses_.size()].c_str(), nullptr, &hints);
  if (status != 0) {
    delete request;
    return done_("", "cannot resolve " + hosts_[addresses_.size()] + ": " + uv_strerror(status));
  }
  pending_ = request;
}

void HostLookup::on_resolved(int status, const addrinfo* result) {
  const std::string& host = hosts_[addresses_.size()];
  if (status != 0 || !result) return done_("", "cannot resolve " + host + ": " + uv_strerror(status));
  char text[INET6_ADDRSTRLEN] = {};
  const void* address = result->ai_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(result->ai_addr)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(result->ai_addr)->sin_addr);
  inet_ntop(result->ai_family, address, text, sizeof text);
  addresses_.emplace_back(text);
  next();
}

}  // namespace pgep
