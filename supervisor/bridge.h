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
    // `message` (seq held in the ledger) can never be delivered: write it to the dead letters,
    // then call dead_letter_written(seq).
    virtual void on_dead_letter(Bridge& bridge, ipc::Publish&& message, const std::string& error) = 0;
  };

  // `owner` must outlive the bridge.
  Bridge(uv_loop_t* loop, std::string name, BridgeSpec spec, std::map<std::string, std::string> settings,
         uint64_t max_events, uint64_t max_bytes, std::string worker_path, Owner& owner);
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  void start() { worker_.start(); }
  // This pgep stands by: what the ledger holds is dropped unpublished-for-sure and the worker
  // is killed and started again empty, so that nothing it held is published from now on.
  void abandon();
  // Records the event in the ledger and sends it on when the worker is ready; returns where
  // it went. One too large for the frame limit or the upstream's max_message_bytes is not
  // sent: it goes to the dead letters at once.
  Delivery submit(ipc::Publish&& message);
  // Its dead letter `seq` is in events.dead_letters: the sources may let it go.
  void dead_letter_written(uint64_t seq);
  // Called every second: a bridge with events outstanding and no acknowledgement for
  // stall_timeout is stalled (not ready) and, if its worker says it is connected (a hung
  // connection, a hung worker), its worker is restarted.
  void check_stall();
  bool stalled() const { return stalled_; }

  const std::string& name() const { return name_; }
  bool wal_transaction_records() const { return wal_transaction_records_; }
  const BridgeSpec& spec() const { return spec_; }
  const Ledger& ledger() const { return ledger_; }
  WorkerProcess& worker() { return worker_; }
  const WorkerProcess& worker() const { return worker_; }
  BridgeSnapshot snapshot() const;

 private:
  // WorkerProcess::Owner
  void on_acknowledged() override;
  void on_worker_stopped() override { owner_.on_worker_stopped(*this); }
  void on_gave_up(ipc::Publish&& message, const std::string& error) override;
  // Why `message` can never be sent, or "".
  std::string too_large(const ipc::Publish& message) const;

  uv_loop_t* loop_;
  std::string name_;
  BridgeSpec spec_;
  Owner& owner_;
  uint64_t max_message_bytes_;
  bool wal_transaction_records_;  // forward the WAL's begin and commit records
  uint64_t stall_timeout_ms_;  // 0: never stalled
  uint64_t progress_ms_ = 0;   // the last acknowledgement, or since when events are outstanding
  bool stalled_ = false;
  Ledger ledger_;
  WorkerProcess worker_;  // after ledger_, which it refers to
  uint64_t dead_letters_ = 0;  // written
};

}  // namespace pgep
