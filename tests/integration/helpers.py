"""What the integration tests share beyond fixtures: configuration text, PostgreSQL helpers, the
servers' script. No test module imports another; they all import from here (and conftest)."""
import json
import os
import random
import threading
import time

import psycopg2

from conftest import ROOT, run, wait_until

SERVICES = os.path.join(ROOT, "scripts", "services")


# Configuration text.

def database(extra="", slot=None):
    """A [database] section on the test cluster's socket, with a replication slot when given."""
    slot_line = f"replication_slot = {slot}\n" if slot else ""
    return f"[database]\nuri = {os.environ['PGEP_PG_SOCKET_URI']}\n{slot_line}{extra}\n"


def upstream(name, kind, bridges, uri=None, **options):
    uri = uri or os.environ[{"amqp": "PGEP_AMQP_URI", "mqtt": "PGEP_MQTT_URI", "redis": "PGEP_REDIS_URI"}[kind]]
    text = f"[upstream.{name}]\nkind = {kind}\nuri = {uri}\nbridge_channels = {bridges}\n"
    return text + "".join(f"{k} = {v}\n" for k, v in options.items()) + "\n"


# PostgreSQL.

def connect(dsn=None):
    conn = psycopg2.connect(dsn or os.environ["PGEP_PG_URI"])
    conn.autocommit = True
    return conn


def load_events_sql():
    """Loads postgres/1_events.sql (idempotent: loaded again is the same)."""
    conn = connect()
    with conn.cursor() as cur, open(os.path.join(ROOT, "postgres", "1_events.sql")) as sql:
        cur.execute(sql.read())
    conn.close()


def make_table(name):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    return conn


def insert_rows(conn, table, first, count, per_transaction, again=False):
    """Rows first .. first+count-1 in transactions of `per_transaction`; `again`: rows already
    there (a commit whose answer was lost) are skipped."""
    conflict = " ON CONFLICT DO NOTHING" if again else ""
    with conn.cursor() as cur:
        for start in range(first, first + count, per_transaction):
            end = min(start + per_transaction, first + count)
            cur.execute(f"INSERT INTO {table} SELECT i, 'row ' || i FROM generate_series(%s, %s) i{conflict}",
                        (start, end - 1))


def redis_row_ids(sub, table):
    """The ids of the rows inserted into `table` that a Redis subscriber received."""
    return row_ids([b for c, b in list(sub.messages) if c.endswith(b".insert")], table)


def row_ids(bodies, table):
    """The ids of the rows inserted into `table`, from wal2json (format 2) bodies."""
    ids = []
    for body in bodies:
        record = json.loads(body)
        if record.get("action") == "I" and record.get("table") == table:
            ids.append(next(c["value"] for c in record["columns"] if c["name"] == "id"))
    return ids


def slot_position(slot):
    """(confirmed_flush_lsn, pg_current_wal_lsn()) as text."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = %s",
                    (slot,))
        return cur.fetchone()


def lsn(text):
    """A WAL position "3/35D1B8" as a number."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def slot_confirmed(slot):
    """The slot's confirmed_flush_lsn, as a number."""
    return lsn(str(slot_position(slot)[0]))


def rows_through_slot(wal, sub, first, count):
    """Rows first .. first+count-1 into `wal`'s table, then waits until the Redis subscriber `sub`
    has them all and the slot is confirmed past them."""
    insert_rows(wal.conn, wal.table, first, count, 10)
    with wal.conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()::text")
        written = lsn(cur.fetchone()[0])
    wait_until(lambda: set(redis_row_ids(sub, wal.table)) >= set(range(first + count)), 30, what="the rows")
    wait_until(lambda: slot_confirmed(wal.slot) >= written, 30, what="the slot confirmed past the rows")


def drop_slot(slot, dsn=None):
    """Drops `slot` (if it exists) once no walsender holds it any more."""
    conn = connect(dsn)
    with conn.cursor() as cur:
        def released():
            cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            row = cur.fetchone()
            return not (row and row[0])
        wait_until(released, 20, what=f"slot {slot} to be released")
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    conn.close()


# The servers.

def services(command, *names):
    """scripts/services COMMAND on the test run's servers (stop, start, ...)."""
    result = run([SERVICES, command, os.environ["PGEP_SERVICES_DIR"], *names], timeout=120)
    assert result.returncode == 0, result.stderr


# Writers.

class RowWriter:
    """Inserts `count` rows in transactions of random sizes (1 to `largest`), in a thread."""

    def __init__(self, table, count, largest, seed=7, pause=0.0, retry=False):
        self.table, self.count, self.largest, self.pause, self.retry = table, count, largest, pause, retry
        self.random = random.Random(seed)
        self.written = 0
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def run(self):
        try:
            conn = connect()
            while self.written < self.count:
                size = min(self.random.randint(1, self.largest), self.count - self.written)
                try:
                    insert_rows(conn, self.table, self.written, size, size, again=self.retry)
                except psycopg2.OperationalError:
                    if not self.retry:
                        raise
                    conn = self._reconnect()  # PostgreSQL restarted: the batch is written again
                    continue
                self.written += size
                time.sleep(self.pause)
            conn.close()
        except Exception as e:  # reported by finish()
            self.error = e

    def _reconnect(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return connect()
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def finish(self, timeout=300):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the writer did not finish"
        assert self.error is None, f"the writer failed: {self.error}"
