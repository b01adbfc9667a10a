#include "bench/clients.h"

#include <amqp_tcp_socket.h>

#include <cerrno>  // program_invocation_short_name (GNU)
#include <cstdio>
#include <cstdlib>

namespace pgep::bench {

int64_t clock_us(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return int64_t{t.tv_sec} * 1000000 + t.tv_nsec / 1000;
}

void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(2);
}

void check_amqp(amqp_rpc_reply_t reply, const char* doing) {
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) die(std::string("amqp: ") + doing + " failed");
}

amqp_connection_state_t open_amqp(const Uri& uri) {
  amqp_connection_state_t connection = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(connection);
  if (!socket || amqp_socket_open(socket, uri.host.c_str(), uri.port.value_or(5672)) != AMQP_STATUS_OK) {
    die("amqp: cannot connect");
  }
  std::string vhost = uri.path && !uri.path->empty() ? *uri.path : "/";
  check_amqp(amqp_login(connection, vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                        uri.user.value_or("guest").c_str(), uri.password.value_or("guest").c_str()),
             "login");
  amqp_channel_open(connection, 1);
  check_amqp(amqp_get_rpc_reply(connection), "channel.open");
  return connection;
}

}  // namespace pgep::bench
