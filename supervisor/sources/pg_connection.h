// A libpq connection driven by the libuv loop: connects with PQconnectStartParams and
// PQconnectPoll, then watches the socket for whoever owns it. Used by the NOTIFY source and by
// the WAL source (a replication connection).
#pragma once

#include <libpq-fe.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "shared/uv_handle.h"
#include "supervisor/sources/host_lookup.h"

namespace pgep {

// A failed result's message, without libpq's trailing new line.
std::string pg_result_error(const PGresult* result);
// A failed result's SQLSTATE ("42501"), or empty when it has none (no result at all).
std::string pg_sqlstate(const PGresult* result);
// The server options of a replication session: pgep's timeouts (pg_connection.cc says why),
// then the URI's own `options`, which therefore keep the last word on what they set.
std::string replication_options(const std::string& uri);

class PgConnection {
 public:
  // Called when connected (the connection is then non-blocking), when there is something to
  // read (status < 0: a socket error), and when the connection failed (connecting, or sending).
  struct Callbacks {
    std::function<void()> connected;
    std::function<void(int status, int events)> ready;
    std::function<void(const std::string& reason)> failed;
  };

  PgConnection(uv_loop_t* loop, Callbacks callbacks)
      : loop_(loop), callbacks_(std::move(callbacks)), lookup_(loop) {}
  ~PgConnection() { close(); }

  // Starts connecting to `uri` (its host names resolved first, off the loop: HostLookup);
  // pg-event-proxy is the application_name unless the URI says otherwise. `replication` adds
  // replication=database (for the WAL).
  void connect(const std::string& uri, bool replication);
  // Whether the owner wants `ready` calls (off while it is paused). Output libpq holds is sent
  // either way: the socket is watched for writing until it is all gone.
  void watch_reads(bool on);
  // Sends a query without waiting for its answer. On failure calls `failed` and returns false.
  bool send_query(const std::string& sql);
  // The same with $1.. parameters, in text form (NUL-terminated, as PostgreSQL text is).
  bool send_query_params(const char* sql, std::span<const char* const> values);
  // Sends what libpq holds (a query, COPY data). On failure calls `failed` and returns false.
  bool flush();
  void close();

  PGconn* get() const { return conn_.get(); }
  std::string error() const;

  using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;
  enum class Answer { Pending, Done, CopyBoth };
  // Reads what has arrived of the command under way. Done: the command finished and `result`
  // holds its first result, or the error that followed it (null only if there was none at
  // all). CopyBoth: the server entered COPY BOTH (START_REPLICATION). Pending: more to come.
  Answer take_answer(ResultPtr& result);

 private:
  struct Closer {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };
  void start_connect(const std::string& hostaddr);
  void continue_connect();
  void on_socket(int status, int events);
  void poll(int events);
  void update_poll();

  uv_loop_t* loop_;
  Callbacks callbacks_;
  HostLookup lookup_;
  std::string uri_;
  bool replication_ = false;
  std::unique_ptr<PGconn, Closer> conn_;
  UvHandle<uv_poll_t> poll_;
  int polled_fd_ = -1;
  bool connecting_ = false;
  bool reading_ = true;
  bool output_pending_ = false;
  ResultPtr held_{nullptr, &PQclear};  // the first result of the command under way
};

}  // namespace pgep
