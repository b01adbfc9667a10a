"""Slot identity and the state file (DESIGN, "Lessons from the field"): a slot behind what pgep
confirmed is normal after a PostgreSQL restart; a slot dropped and created again stops pgep; two
pgeps on one host against two clusters, both with the default slot name, each keep their own."""
import os
import shutil
import tempfile
import time

import pytest

from conftest import run, wait_until
from helpers import SERVICES, RowWriter, connect, drop_slot, insert_rows, redis_row_ids, upstream
from pgep_process import PgepProcess


def write_wal_elsewhere(seconds):
    """WAL the slot does not decode (another database): pgep confirms the keepalives' positions,
    which PostgreSQL keeps only in memory until its next running-xacts record."""
    admin = connect()
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = 'pgep_elsewhere'")
        if not cur.fetchone():
            cur.execute("CREATE DATABASE pgep_elsewhere")
    admin.close()
    other = connect(os.environ["PGEP_PG_URI"].rsplit("/", 1)[0] + "/pgep_elsewhere")
    with other.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS filler (x int)")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            cur.execute("INSERT INTO filler SELECT generate_series(1, 1000)")
            time.sleep(0.05)
        cur.execute("TRUNCATE filler")
    other.close()


def restart_postgres(mode):
    env = dict(os.environ, PGEP_STOP_MODE=mode)
    result = run([SERVICES, "restart", os.environ["PGEP_SERVICES_DIR"], "postgres"], env=env, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_restart_while_rows_stream_keeps_pgep_up_and_every_row_arrives(wal, mode):
    count = 4000
    sub = wal.redis(f"{wal.table}*")
    pgep = wal.start(upstream("cache", "redis", f"wal2json->topic:{wal.table}"))
    writer = RowWriter(wal.table, count, 50, pause=0.01, retry=True).start()
    wait_until(lambda: len(set(redis_row_ids(sub, wal.table))) >= count // 3, 60, what="a third of the rows")
    # So that the slot's position after the restart is behind what pgep confirmed (the review's
    # finding 7): that is normal, and pgep goes on.
    write_wal_elsewhere(2)
    restart_postgres(mode)
    pgep.wait_log(r"streaming the WAL from slot " + wal.slot, count=2, timeout=60)
    writer.finish()
    wait_until(lambda: set(redis_row_ids(sub, wal.table)) >= set(range(count)), 120, what="every row after the restart")
    assert pgep.proc.poll() is None, "pgep exited:\n" + pgep.log_text()
    assert "WAL: " not in pgep.log_text()  # no fatal WAL error


def kept(wal, keep, table):
    if keep != "table":
        return os.listdir(wal.state_dir)
    with wal.conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table} WHERE slot = %s", (wal.slot,))
        return cur.fetchone()[0] == 1


@pytest.mark.parametrize("keep", ["file alone", "table"])
def test_a_slot_dropped_and_created_again_stops_pgep_with_a_clear_error(wal, keep):
    """Exact where every confirmation was kept first: a file with active_standby = false (one
    pgep), or state_table (every pgep of a pair writes it). A file on one host of a pair cannot
    tell a recreated slot from the other pgep's progress: test_ha.py has that case."""
    table = "slot_state_" + wal.slot
    options = "active_standby = false" if keep == "file alone" else f"state_table = {table}"
    cache = upstream("cache", "redis", "wal2json->topic:again")
    try:
        pgep = wal.start(cache, pgep=options)
        insert_rows(wal.conn, wal.table, 0, 10, 10)
        wait_until(lambda: kept(wal, keep, table), 10, what="the state kept")
        assert pgep.stop() == 0
        with wal.conn.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot(%s)", (wal.slot,))
        insert_rows(wal.conn, wal.table, 10, 100, 10)  # written while there is no slot: never decoded
        with wal.conn.cursor() as cur:
            cur.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (wal.slot, wal.plugin))
        pgep = wal.pgep(cache, pgep=options).start(wait_ready=False)
        assert pgep.proc.wait(30) == 1
        log = pgep.log_text()
        assert f"the replication slot {wal.slot} starts at" in log
        assert "it was dropped and created again, so what was written in between was never delivered" in log
        forget = "delete " + wal.state_dir if keep == "file alone" else f"delete its row: DELETE FROM {table} WHERE"
        assert "To start afresh on purpose, " + forget in log
    finally:
        with wal.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def test_two_pgeps_against_two_clusters_with_the_default_slot_each_keep_their_own(second_cluster):
    """Both clusters hold a slot named pg_event_proxy; both pgeps share one state directory."""
    state_dir = tempfile.mkdtemp(prefix="pgep-state-")
    uris = {"first": os.environ["PGEP_PG_SOCKET_URI"], "second": second_cluster["PGEP_PG_SOCKET_URI"]}
    admin = {"first": os.environ["PGEP_PG_URI"], "second": second_cluster["PGEP_PG_URI"]}

    def config(name):
        return (f"[pgep]\nstate_directory = {state_dir}\n\n[database]\nuri = {uris[name]}\n\n" +
                upstream("cache", "redis", f"wal2json->topic:two{name}"))

    def drop_default_slot(name):
        drop_slot("pg_event_proxy", admin[name])

    for name in uris:
        drop_default_slot(name)
    try:
        pgeps = {name: PgepProcess(config(name), bridges=1, notify=False).start() for name in uris}
        for p in pgeps.values():
            p.wait_log(r"streaming the WAL from slot pg_event_proxy")
        assert len([f for f in os.listdir(state_dir) if f.endswith("-postgres-pg_event_proxy.state")]) == 2
        for p in pgeps.values():
            assert p.stop() == 0
        for lost, kept in (("second", "first"), ("first", "second")):
            drop_default_slot(lost)
            refused = PgepProcess(config(lost), notify=False).start(wait_ready=False)
            assert refused.proc.wait(30) == 1
            assert "the replication slot pg_event_proxy is gone" in refused.log_text()
            refused.kill()
            running = PgepProcess(config(kept), bridges=1, notify=False).start()
            running.wait_log(r"streaming the WAL from slot pg_event_proxy")
            assert running.stop() == 0
            # The operator starts the lost one afresh on purpose.
            for f in os.listdir(state_dir):
                if lost == "second" and second_cluster["system_id"] in f:
                    os.unlink(os.path.join(state_dir, f))
                if lost == "first" and second_cluster["system_id"] not in f:
                    os.unlink(os.path.join(state_dir, f))
            again = PgepProcess(config(lost), bridges=1, notify=False).start()
            again.wait_log(r"creating the replication slot pg_event_proxy")
            assert again.stop() == 0
    finally:
        for p in list(locals().get("pgeps", {}).values()):
            p.kill()
        for name in uris:
            drop_default_slot(name)
        shutil.rmtree(state_dir, ignore_errors=True)
