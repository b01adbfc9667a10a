// One bridge at run time (a `pg_channel->kind:target` entry of the configuration, BridgeSpec):
// its ledger, where every event routed to it waits until its broker confirmed it (step 3 of an
// event's life), and its pgep-worker process, which publishes them (WorkerProcess, step 4).
//
// Called by: the router (submit) and the supervisor. Calls back: Owner, from the loop.
#pragma once

#include <uv.h>

#include <map>
#include <string>

#include "shared/bridge_spec.h"
#include "supervisor/admin/status.h"
#include "supervisor/ledger.h"
#include "supervisor/worker_process.h"

namespace pgep {

class Bridge : private WorkerProcess::Owner {
 public:
  class Owner {
   public:
    virtual ~Owner() = default;
    // The worker acknowledged events: the ledger shrank.
    virtual void on_acknowledged(Bridge& bridge) = 0;
    // The worker exited after a shutdown request (or was killed at its deadline).
    virtual void on_worker_stopped(Bridge& bridge) = 0;
  };

  // `owner` must outlive the bridge.
  Bridge(uv_loop_t* loop, std::string name, BridgeSpec spec, std::map<std::string, std::string> settings,
         uint64_t max_events, uint64_t max_bytes, std::string worker_path, Owner& owner);
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  void start() { worker_.start(); }
  // Records the event in the ledger and sends it on when the worker is ready; returns where
  // it went.
  Delivery submit(ipc::Publish&& message);

  const std::string& name() const { return name_; }
  const BridgeSpec& spec() const { return spec_; }
  const Ledger& ledger() const { return ledger_; }
  WorkerProcess& worker() { return worker_; }
  const WorkerProcess& worker() const { return worker_; }
  BridgeSnapshot snapshot() const;

 private:
  // WorkerProcess::Owner
  void on_acknowledged() override { owner_.on_acknowledged(*this); }
  void on_worker_stopped() override { owner_.on_worker_stopped(*this); }

  std::string name_;
  BridgeSpec spec_;
  Owner& owner_;
  Ledger ledger_;
  WorkerProcess worker_;  // after ledger_, which it refers to
};

}  // namespace pgep
