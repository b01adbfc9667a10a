// The flush rule of DESIGN.md: the LSN pgep confirms to PostgreSQL never passes an event that
// some bridge has not acknowledged. Each transaction read from the WAL is remembered with, for
// every ledger it fed, the seq of its last event there; once every such ledger acknowledged
// that seq, the transaction's end LSN may be confirmed. With nothing in flight and no
// transaction open, the flush position follows the server's WAL end, so a quiet or filtered
// stream does not pin WAL.
//
// Called by: WalSource only, in the order the WAL arrives (begin, routed..., commit) and on
// every acknowledgement (advance). Pure: no I/O. The ledgers it was given must outlive the
// transactions that refer to them (refers_to tells the supervisor when a ledger may go).
#pragma once

#include <cstdint>
#include <deque>

#include "supervisor/ledger.h"

namespace pgep {

class FlushTracker {
 public:
  // A transaction starts (format 2: its "B" record; format 1: its one message), or a record
  // outside any transaction, which is a unit of its own.
  void begin() { open_ = true; }
  bool in_transaction() const { return open_; }
  // An event of the open transaction went there.
  void routed(const Delivery& delivery);
  // The open transaction (or record) ends; `end_lsn` is where PostgreSQL may resume after it:
  // the commit's end, or a lone record's own LSN (resuming there sends it again, never skips it).
  void commit(uint64_t end_lsn);
  // Moves the flush position over every transaction all of whose events were acknowledged.
  // Returns true when it moved.
  bool advance();
  // The server reported its WAL end (keepalive or XLogData): followed when nothing is pending.
  bool server_wal_end(uint64_t lsn);

  uint64_t flush_lsn() const { return flush_lsn_; }
  // Start from the slot's position.
  void reset(uint64_t lsn);
  size_t pending_transactions() const { return pending_.size(); }
  // Whether a transaction not yet confirmed had an event in `ledger` (which must then live on).
  bool refers_to(const Ledger& ledger) const;
  // A reload removed the bridge of `ledger`: the transactions stop waiting for it (its events
  // went, or go, to the bridges that still want them).
  void forget(const Ledger& ledger);

 private:
  struct Transaction {
    uint64_t end_lsn;
    Deliveries last_seq;  // per ledger, the transaction's last event there
  };
  bool open_ = false;
  Deliveries current_;
  std::deque<Transaction> pending_;
  uint64_t flush_lsn_ = 0;
};

}  // namespace pgep
