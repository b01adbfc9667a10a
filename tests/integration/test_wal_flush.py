"""The flush rule's edges (DESIGN, "Lessons from the field"): a record outside any transaction
holds the slot until acknowledged, and no record is skipped silently."""
import json
import os
import signal
import time

from conftest import wait_until
from helpers import connect, insert_rows, redis_row_ids, upstream


def lsn_at_least(a, b):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT %s::pg_lsn >= %s::pg_lsn", (a, b))
        return cur.fetchone()[0]


def current_lsn():
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        return cur.fetchone()[0]


def confirmed_lsn(slot):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        return cur.fetchone()[0]


def assert_slot_holds_while_unacknowledged(pgep, slot, written_after, before):
    """Once pgep has heard that the server's WAL end is past what was written (keepalives are
    what used to move the slot), the slot must still be at or before `before` — watched for two
    seconds, which is ten of pgep's status ticks."""
    def server_end():
        status = json.loads(pgep.ctl("status", "--json").stdout)
        return status["replication"]["server_wal_end"]
    wait_until(lambda: lsn_at_least(server_end(), written_after), 30, what="pgep to hear the server's WAL end")
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert lsn_at_least(before, confirmed_lsn(slot)), \
            f"the slot was confirmed to {confirmed_lsn(slot)}, past unacknowledged events written after {before}"
        time.sleep(0.1)


def kill_all(pgep, worker):
    os.kill(pgep.proc.pid, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)
    pgep.proc.wait(10)


def test_without_transaction_records_the_slot_never_passes_an_unacknowledged_row(wal):
    params = "wal2json_params = \"format-version\" '2', \"include-transaction\" '0'"
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")
    pgep = wal.start(cache, database_extra=params)
    worker = pgep.worker_pids()[0]
    os.kill(worker, signal.SIGSTOP)  # nothing is published, nothing acknowledged
    before = current_lsn()
    insert_rows(wal.conn, wal.table, 0, 10, 1)
    assert_slot_holds_while_unacknowledged(pgep, wal.slot, current_lsn(), before)
    kill_all(pgep, worker)
    wal.start(cache, database_extra=params)
    wait_until(lambda: set(redis_row_ids(sub, wal.table)) >= set(range(10)), 30, what="every row after the restart")


def test_a_non_transactional_logical_message_holds_the_slot_until_acknowledged(wal):
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")
    pgep = wal.start(cache)
    worker = pgep.worker_pids()[0]
    os.kill(worker, signal.SIGSTOP)
    before = current_lsn()
    with wal.conn.cursor() as cur:
        cur.execute("SELECT pg_logical_emit_message(false, 'audit', 'not in a transaction')")
    assert_slot_holds_while_unacknowledged(pgep, wal.slot, current_lsn(), before)
    kill_all(pgep, worker)
    wal.start(cache)
    channel = f"{wal.table}.message.audit".encode()
    wait_until(lambda: any(c == channel for c, _ in list(sub.messages)), 30, what="the message after the restart")


def test_changes_without_a_schema_are_forwarded_keyed_by_their_table(wal):
    params = "wal2json_params = \"format-version\" '2', \"include-schemas\" '0'"
    sub = wal.redis(f"{wal.table}*")
    pgep = wal.start(upstream("cache", "redis", f"wal2json->topic:{wal.table}"), database_extra=params)
    insert_rows(wal.conn, wal.table, 0, 5, 5)
    channel = f"{wal.table}.{wal.table}.insert".encode()
    wait_until(lambda: len([1 for c, _ in list(sub.messages) if c == channel]) >= 5, 30, what="five inserts")
    assert "not routed" not in pgep.log_text() and "forwarded with the routing key" not in pgep.log_text()
