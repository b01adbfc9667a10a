"""The slot's state kept in a table of the database (issue 16, item 4: `state_table`), so a pgep on
another host, the standby of a pair or a container that moved, makes the same lost-slot check
as the pgep that wrote it. Each pgep here has a state directory of its own, as on two hosts."""
import os
import re

import psycopg2

from brokers import unique
from conftest import wait_until
from helpers import connect, drop_slot, insert_rows, lsn, redis_row_ids, rows_through_slot, slot_confirmed, upstream


def row_state(table, slot):
    """The state text the table holds for `slot`, or None."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT state FROM {table} WHERE slot = %s", (slot,))
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def row_confirmed(table, slot):
    state = row_state(table, slot)
    fields = dict(line.split(" ", 1) for line in (state or "").splitlines() if line and not line.startswith("#"))
    return lsn(fields["confirmed_lsn"]) if "confirmed_lsn" in fields else None


def on_another_host(wal, table, *upstreams):
    """A pgep of `wal`'s configuration with `state_table = table` and a state directory of its own."""
    return wal.pgep(*upstreams, pgep=f"state_table = {table}", state_dir=os.path.join(wal.state_dir, unique("host")))


def drop_table(table):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
    conn.close()


def walsender_reply(slot):
    """(flush_lsn the client last reported, when it sent it) for `slot`'s walsender."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT r.flush_lsn::text, r.reply_time FROM pg_stat_replication r "
                        "JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = %s", (slot,))
            row = cur.fetchone()
            return (lsn(row[0]), row[1]) if row and row[0] else (None, None)
    finally:
        conn.close()


def database_now():
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_postgresql_never_hears_of_a_position_the_row_does_not_hold(wal):
    """The table is made, and its row is written before PostgreSQL is told a position. While the
    test holds a lock that blocks the row's writes, pgep knows newer positions and keeps
    reporting, but only what the row holds; when the lock goes, both move on."""
    table = unique("st")
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")
    try:
        pgep = on_another_host(wal, table, cache).start()
        pgep.wait_log(r"created the state table " + table)
        pgep.wait_log(r"streaming the WAL from slot " + wal.slot)
        insert_rows(wal.conn, wal.table, 0, 10, 10)
        wait_until(lambda: set(redis_row_ids(sub, wal.table)) == set(range(10)), 30, what="the first rows")
        wait_until(lambda: row_confirmed(table, wal.slot), 30, what="the row")
        blocker = connect()
        blocker.autocommit = False
        with blocker.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # after any write under way; the next ones wait
            cur.execute(f"SELECT state FROM {table} WHERE slot = %s", (wal.slot,))
            held = lsn(re.search(r"^confirmed_lsn (\S+)$", cur.fetchone()[0], re.M).group(1))
        try:
            insert_rows(wal.conn, wal.table, 10, 200, 20)
            wait_until(lambda: set(redis_row_ids(sub, wal.table)) == set(range(210)), 30, what="every row")
            wait_until(lambda: lsn(pgep.status()["replication"]["confirmed_lsn"]) > held, 30,
                       what="pgep acknowledged past the row")
            since = database_now()
            wait_until(lambda: (walsender_reply(wal.slot)[1] or since) > since, 30,
                       what="a status update sent after that")
            reported, _ = walsender_reply(wal.slot)
            assert reported <= held, f"pgep reported {reported:X}, past the row's {held:X}"
            assert slot_confirmed(wal.slot) <= held
        finally:
            blocker.rollback()
            blocker.close()
        wait_until(lambda: slot_confirmed(wal.slot) > held, 30, what="the slot moving on once the row is written")
        assert row_confirmed(table, wal.slot) >= slot_confirmed(wal.slot)
        assert "system_id" in row_state(table, wal.slot) and "checksum" in row_state(table, wal.slot)
    finally:
        drop_table(table)


def test_a_pgep_on_another_host_makes_the_same_lost_slot_check(wal):
    table = unique("st")
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    try:
        first = on_another_host(wal, table, cache).start()
        first.wait_log(r"streaming the WAL from slot " + wal.slot)
        insert_rows(wal.conn, wal.table, 0, 10, 10)
        wait_until(lambda: row_confirmed(table, wal.slot), 30, what="the row")
        first.kill()
        drop_slot(wal.slot)  # lost while no pgep ran: what is written now is never decoded
        insert_rows(wal.conn, wal.table, 10, 10, 10)
        # A pgep with a state directory of its own would start afresh from a new slot; the row
        # tells it that the slot it confirmed to is gone.
        second = on_another_host(wal, table, cache).start(wait_ready=False)
        assert second.proc.wait(30) == 1
        log = second.log_text()
        assert f"the replication slot {wal.slot} is gone, but pgep had confirmed up to" in log
        assert f"(the state table {table})" in log
        assert (f"To start afresh on purpose, delete its row: DELETE FROM {table} WHERE system_id = '"
                in log), log
        assert f"AND slot = '{wal.slot}'" in log
        # The operator starts afresh on purpose, as the message says.
        conn = connect()
        with conn.cursor() as cur:
            cur.execute(log.split("delete its row: ")[1].split(";")[0].splitlines()[0])
        conn.close()
        third = on_another_host(wal, table, cache).start()
        third.wait_log(r"creating the replication slot " + wal.slot)
    finally:
        drop_table(table)


def test_a_table_the_role_may_not_create_is_a_clear_error_with_its_statement(wal):
    role, table = unique("limited"), unique("st")
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN REPLICATION")
    try:
        cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
        pgep = on_another_host(wal, table, cache)
        config = open(pgep.config).read().replace("postgresql://postgres@", f"postgresql://{role}@")
        with open(pgep.config, "w") as f:
            f.write(config)
        pgep.start(wait_ready=False)
        assert pgep.proc.wait(30) == 1
        log = pgep.log_text()
        assert (f"the state table {table} does not exist and cannot be created (permission denied for schema "
                f"public); create it as a role that may: CREATE TABLE IF NOT EXISTS {table} (") in log, log
    finally:
        with conn.cursor() as cur:
            try:
                cur.execute(f"DROP ROLE {role}")
            except psycopg2.Error:
                pass
        conn.close()


def test_a_row_the_role_may_not_update_is_said_and_does_not_hold_the_slot_back(wal):
    """A write PostgreSQL refuses is logged once, with PostgreSQL's reason, and the slot still
    moves on: the check only detects a vanished slot, pinning WAL for it would be worse."""
    role, table = unique("noupd"), unique("st")
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN REPLICATION")
        cur.execute(f"CREATE TABLE {table} (system_id text NOT NULL, database text NOT NULL, slot text NOT NULL, "
                    "state text NOT NULL, confirmed_lsn pg_lsn NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
                    "PRIMARY KEY (system_id, database, slot))")
        cur.execute(f"GRANT SELECT, INSERT ON {table} TO {role}")  # no UPDATE: ON CONFLICT DO UPDATE is refused
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")
    try:
        pgep = on_another_host(wal, table, cache)
        with open(pgep.config) as f:
            config = f.read().replace("postgresql://postgres@", f"postgresql://{role}@")
        with open(pgep.config, "w") as f:
            f.write(config)
        pgep.start()
        pgep.wait_log(r"streaming the WAL from slot " + wal.slot)
        first = slot_confirmed(wal.slot)
        insert_rows(wal.conn, wal.table, 0, 100, 10)
        wait_until(lambda: set(redis_row_ids(sub, wal.table)) == set(range(100)), 30, what="every row")
        pgep.wait_log(rf"cannot keep the state: the state table {table} refused the write: "
                      rf"permission denied for table {table}; a slot that vanishes or is created again would go "
                      r"unnoticed")
        wait_until(lambda: slot_confirmed(wal.slot) > first, 30, what="the slot moving on regardless")
        assert pgep.count(r"cannot keep the state") == 1
        assert pgep.proc.poll() is None
    finally:
        pgep.kill()
        drop_table(table)
        with conn.cursor() as cur:
            cur.execute(f"DROP ROLE {role}")
        conn.close()


def test_two_pgeps_taking_turns_share_the_row_and_raise_no_doubt(wal):
    """The case a state file per host cannot settle (test_ha.py): with the row, the pgep taking
    over again knows the other's progress, so the slot is never ahead of what it reads."""
    table = unique("st")
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")

    def rows_through(first, count):
        rows_through_slot(wal, sub, first, count)
    try:
        first = on_another_host(wal, table, cache).start()
        first.wait_log(r"streaming the WAL from slot " + wal.slot)
        rows_through(0, 50)
        second = on_another_host(wal, table, cache).start()
        second.wait_log(r"standby: another pgep holds the lock")
        first.kill()
        second.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
        rows_through(50, 200)
        second.kill()
        again = on_another_host(wal, table, cache).start()
        again.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
        rows_through(250, 50)
        assert "starts at" not in again.log_text()
    finally:
        drop_table(table)


def test_a_late_write_never_takes_the_row_back(wal):
    """A row ahead of what this pgep keeps stands for a newer write of the other pgep of a pair
    (this pgep's write arrived late): pgep's writes, whose positions are below it, change nothing."""
    table = unique("st")
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")
    try:
        pgep = on_another_host(wal, table, cache).start()
        pgep.wait_log(r"streaming the WAL from slot " + wal.slot)
        wait_until(lambda: row_state(table, wal.slot), 30, what="the row")
        newer = row_state(table, wal.slot).replace("confirmed_lsn ", "confirmed_lsn FFFFFFFF/0\n# was ")
        conn = connect()
        with conn.cursor() as cur:
            cur.execute(f"UPDATE {table} SET state = %s, confirmed_lsn = 'FFFFFFFF/0' WHERE slot = %s",
                        (newer, wal.slot))
        conn.close()
        rows_through_slot(wal, sub, 0, 100)  # pgep confirms, so it wrote, past the row's old position
        assert row_state(table, wal.slot) == newer
    finally:
        drop_table(table)
