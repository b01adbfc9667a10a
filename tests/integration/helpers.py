"""What the integration tests share beyond fixtures: configuration text, PostgreSQL helpers, the
servers' script. No test module imports another; they all import from here (and conftest)."""
import json
import os

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

def connect():
    conn = psycopg2.connect(os.environ["PGEP_PG_URI"])
    conn.autocommit = True
    return conn


def make_table(name):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    return conn


def insert_rows(conn, table, first, count, per_transaction):
    with conn.cursor() as cur:
        for start in range(first, first + count, per_transaction):
            end = min(start + per_transaction, first + count)
            cur.execute(f"INSERT INTO {table} SELECT i, 'row ' || i FROM generate_series(%s, %s) i", (start, end - 1))


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


def drop_slot(slot):
    """Drops `slot` once no walsender holds it any more."""
    conn = connect()
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
