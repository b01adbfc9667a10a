"""Row changes from the WAL (wal2json through a logical slot) to the brokers, at least once."""
import json
import os
import signal
import time

import psycopg2

from brokers import AmqpQueue, MqttSubscriber, RedisSubscriber, unique
from conftest import process_gone, wait_until
from pgep_process import PgepProcess
from test_notify import upstream


def database(slot, extra=""):
    return f"[database]\nuri = {os.environ['PGEP_PG_SOCKET_URI']}\nreplication_slot = {slot}\n{extra}\n"


def connect():
    conn = psycopg2.connect(os.environ["PGEP_PG_URI"])
    conn.autocommit = True
    return conn


def slot_position(slot):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = %s",
                    (slot,))
        row = cur.fetchone()
    return row


def drop_slot(slot):
    conn = connect()
    with conn.cursor() as cur:
        wait_until(lambda: not _slot_active(cur, slot), 20, what=f"slot {slot} to be released")
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    conn.close()


def _slot_active(cur, slot):
    cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    row = cur.fetchone()
    return bool(row and row[0])


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
    ids = []
    for body in bodies:
        record = json.loads(body)
        if record.get("action") == "I" and record.get("table") == table:
            ids.append(next(c["value"] for c in record["columns"] if c["name"] == "id"))
    return ids


def test_rows_reach_every_upstream_with_their_routing_keys():
    slot = unique("slot")
    table = unique("orders")
    conn = make_table(table)
    redis_sub = RedisSubscriber("wal*")
    mqtt_all = MqttSubscriber("#")
    amqp = AmqpQueue("amq.topic", f"public.{table}.*")
    config = database(slot) + upstream("cache", "redis", "wal2json->topic:wal") + \
        upstream("things", "mqtt", "wal2json->topic:wal") + upstream("bus", "amqp", "wal2json->exchange:amq.topic")
    try:
        with PgepProcess(config, bridges=3, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            insert_rows(conn, table, 0, 3000, 1000)
            with conn.cursor() as cur:
                cur.execute(f"UPDATE {table} SET note = 'changed' WHERE id = 7")
                cur.execute(f"DELETE FROM {table} WHERE id = 8")
            got = [m for m in amqp.fetch(3002, timeout=60)]
            keys = [k for k, _, _ in got]
            assert keys.count(f"public.{table}.insert") == 3000
            assert keys[-2:] == [f"public.{table}.update", f"public.{table}.delete"]
            assert sorted(row_ids([b for _, b, _ in got], table)) == list(range(3000))
            ids = [p.message_id for _, _, p in got]
            assert len(set(ids)) == len(ids)
            assert all(p.headers == {"pg_channel": "wal2json"} for _, _, p in got)
            redis_got = wait_until(lambda: len([1 for c, _ in redis_sub.messages
                                                if c == f"wal.public.{table}.insert".encode()]) >= 3000 and redis_sub.messages,
                                   60, what="3000 inserts at Redis")
            channels = [c for c, _ in redis_sub.messages]
            assert channels.count(b"wal.begin") >= 4 and channels.count(b"wal.commit") >= 4
            wait_until(lambda: len([t for t, _ in mqtt_all.messages if t == f"wal.public.{table}.insert"]) >= 3000, 60,
                       what="3000 inserts at MQTT")
            assert redis_got
    finally:
        for c in (redis_sub, mqtt_all, amqp):
            c.close()
        conn.close()
        drop_slot(slot)


def test_the_slot_position_moves_forward_while_the_stream_is_idle():
    slot = unique("idle")
    config = database(slot) + upstream("cache", "redis", "wal2json->topic:wal")
    other = unique("otherdb")
    admin = connect()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {other}")
    try:
        with PgepProcess(config, bridges=1, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            start, _ = slot_position(slot)
            # WAL written in another database is not decoded for this slot: the stream is idle.
            dsn = os.environ["PGEP_PG_URI"].rsplit("/", 1)[0] + "/" + other
            writer = psycopg2.connect(dsn)
            writer.autocommit = True
            with writer.cursor() as cur:
                cur.execute("CREATE TABLE filler (x int)")
                cur.execute("INSERT INTO filler SELECT generate_series(1, 10000)")
                cur.execute("SELECT pg_current_wal_lsn()")
                written = cur.fetchone()[0]
            writer.close()

            def moved():
                confirmed, _ = slot_position(slot)
                with connect() as c, c.cursor() as cur:
                    cur.execute("SELECT %s::pg_lsn >= %s::pg_lsn", (confirmed, written))
                    return cur.fetchone()[0]
            wait_until(moved, 60, what=f"confirmed_flush_lsn to pass {written} (it was {start})")
    finally:
        drop_slot(slot)
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {other}")
        admin.close()


def test_a_slot_of_another_plugin_is_a_clear_error():
    slot = unique("pgout")
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
    try:
        pgep = PgepProcess(database(slot) + upstream("cache", "redis", "wal2json->topic:wal"), notify=False).start(
            wait_ready=False)
        assert pgep.proc.wait(30) == 1
        assert f'the replication slot {slot} uses the plugin "test_decoding", not wal2json' in pgep.log_text()
        pgep.kill()
    finally:
        drop_slot(slot)


class RowWriter:
    """Inserts `count` rows in transactions of random sizes (1 to `largest`), in a thread."""

    def __init__(self, table, count, largest, seed=7, pause=0.0):
        import random
        import threading
        self.table, self.count, self.largest, self.pause = table, count, largest, pause
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
                insert_rows(conn, self.table, self.written, size, size)
                self.written += size
                time.sleep(self.pause)
            conn.close()
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self, timeout=300):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the writer did not finish"
        assert self.error is None, f"the writer failed: {self.error}"


def redis_row_ids(sub, table):
    return row_ids([b for c, b in list(sub.messages) if c.endswith(b".insert")], table)


def test_kill_9_the_supervisor_while_rows_flow_every_row_arrives():
    slot = unique("crash")
    table = unique("crashed")
    conn = make_table(table)
    conn.close()
    count = 20000
    sub = RedisSubscriber("crash*")
    config = database(slot) + upstream("cache", "redis", "wal2json->topic:crash")
    # Rows written before the slot exists are not in it: the writer starts once pgep streams.
    writer = RowWriter(table, count, 500, pause=0.05)
    import random
    seed = random.randrange(1 << 30)
    print(f"kill points seed: {seed}")
    rng = random.Random(seed)
    try:
        for round in range(5):
            pgep = PgepProcess(config, bridges=1, notify=False).start()
            workers = pgep.worker_pids()
            if round == 0:
                pgep.wait_log(r"streaming the WAL from slot " + slot)
                writer.start()
            # A random point in this round's sixth of the rows (the seed is in the test's output).
            target = int((round + rng.random()) * count / 6)
            wait_until(lambda: len(set(redis_row_ids(sub, table))) >= target or not writer.thread.is_alive(), 120,
                       what=f"{target} rows before killing pgep")
            os.kill(pgep.proc.pid, signal.SIGKILL)
            pgep.proc.wait(10)

            wait_until(lambda: all(process_gone(p) for p in workers), 20, what="the workers to exit with their supervisor")
            pgep.kill()
        writer.finish()
        with PgepProcess(config, bridges=1, notify=False):
            def missing():
                return sorted(set(range(count)) - set(redis_row_ids(sub, table)))
            wait_until(lambda: not missing(), 120,
                       what=lambda: f"every row (missing {len(missing())}: {missing()[:5]}...{missing()[-5:]})")
    finally:
        sub.close()
        drop_slot(slot)


def test_50000_rows_in_transactions_of_1_to_5000_rows_reach_each_upstream():
    slot = unique("bulk")
    table = unique("bulk")
    make_table(table).close()
    count = 50000
    redis_sub = RedisSubscriber("bulk*")
    mqtt_all = MqttSubscriber("#")
    amqp = AmqpQueue("amq.topic", f"public.{table}.insert")
    config = database(slot) + upstream("cache", "redis", "wal2json->topic:bulk") + \
        upstream("things", "mqtt", "wal2json->topic:bulk") + upstream("bus", "amqp", "wal2json->exchange:amq.topic")
    try:
        with PgepProcess(config, bridges=3, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            writer = RowWriter(table, count, 5000, seed=11).start()
            writer.finish()
            wait_until(lambda: len(set(redis_row_ids(redis_sub, table))) >= count, 120, what="every row at Redis")
            assert set(redis_row_ids(redis_sub, table)) == set(range(count))
            topic = f"bulk.public.{table}.insert"
            wait_until(lambda: len([1 for t, _ in mqtt_all.messages if t == topic]) >= count, 120,
                       what="every row at MQTT")
            assert set(row_ids([b for t, b in list(mqtt_all.messages) if t == topic], table)) == set(range(count))
            got = amqp.drain(lambda m: len(m) >= count, timeout=120)
            assert {k for k, _, _ in got} == {f"public.{table}.insert"}
            assert set(row_ids([b for _, b, _ in got], table)) == set(range(count))
    finally:
        for c in (redis_sub, mqtt_all, amqp):
            c.close()
        drop_slot(slot)


def test_a_transaction_larger_than_the_ledger_streams_through():
    slot = unique("big")
    table = unique("bigtx")
    conn = make_table(table)
    sub = RedisSubscriber("bigtx*")
    config = "[pgep]\nledger_max_events = 100\n\n" + database(slot) + upstream("cache", "redis", "wal2json->topic:bigtx")
    try:
        with PgepProcess(config, bridges=1, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            insert_rows(conn, table, 0, 5000, 5000)  # one transaction of 5000 rows
            wait_until(lambda: len(set(redis_row_ids(sub, table))) >= 5000, 60, what="every row of the transaction")
            assert set(redis_row_ids(sub, table)) == set(range(5000))
            assert pgep.count(r"WAL source paused") >= 1
            wait_until(lambda: slot_position(slot)[0] == slot_position(slot)[1], 30,
                       what="the slot to be confirmed up to the WAL end once all is acknowledged")
    finally:
        sub.close()
        conn.close()
        drop_slot(slot)


def test_kill_9_the_workers_again_and_again_while_rows_flow():
    slot = unique("wk")
    table = unique("wkill")
    make_table(table).close()
    count = 10000
    sub = RedisSubscriber("wkill*")
    config = database(slot) + upstream("cache", "redis", "wal2json->topic:wkill")
    try:
        with PgepProcess(config, bridges=1, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            writer = RowWriter(table, count, 200, pause=0.02).start()
            killed = 0
            for round in range(1, 6):
                wait_until(lambda: len(set(redis_row_ids(sub, table))) >= round * count // 7 or
                           not writer.thread.is_alive(), 60, what="rows to flow")
                for pid in pgep.worker_pids():
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
            writer.finish()
            assert killed >= 3
            wait_until(lambda: set(redis_row_ids(sub, table)) >= set(range(count)), 120, what="every row")
    finally:
        sub.close()
        drop_slot(slot)


def test_a_frozen_broker_pauses_the_wal_within_the_bound_and_delivery_resumes():
    slot = unique("frozen")
    table = unique("frozen")
    conn = make_table(table)
    count = 20000
    sub = RedisSubscriber("frozen*")
    redis_pid = int(open(os.path.join(os.environ["PGEP_SERVICES_DIR"], "redis", "redis.pid")).read())
    config = "[pgep]\nledger_max_events = 500\n\n" + database(slot) + upstream("cache", "redis", "wal2json->topic:frozen")
    try:
        with PgepProcess(config, bridges=1, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            os.kill(redis_pid, signal.SIGSTOP)  # connections stay open, nothing is answered
            try:
                insert_rows(conn, table, 0, count, 1000)
                pgep.wait_log(r"WAL source paused")
                confirmed, current = slot_position(slot)
                with connect() as c, c.cursor() as cur:  # PostgreSQL holds the WAL for the slot
                    cur.execute("SELECT %s::pg_lsn < %s::pg_lsn", (confirmed, current))
                    assert cur.fetchone()[0]
            finally:
                os.kill(redis_pid, signal.SIGCONT)
            wait_until(lambda: len(set(redis_row_ids(sub, table))) >= count, 120, what="every row after the thaw")
            assert set(redis_row_ids(sub, table)) == set(range(count))
    finally:
        sub.close()
        conn.close()
        drop_slot(slot)


def test_a_broker_restart_mid_stream_every_row_arrives():
    slot = unique("mrst")
    table = unique("mrestart")
    make_table(table).close()
    count = 6000
    sub = MqttSubscriber("#", persistent=True)
    config = database(slot) + upstream("things", "mqtt", "wal2json->topic:mrestart")
    topic = f"mrestart.public.{table}.insert"
    try:
        with PgepProcess(config, bridges=1, notify=False) as pgep:
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            writer = RowWriter(table, count, 100, pause=0.01).start()
            wait_until(lambda: len([1 for t, _ in sub.messages if t == topic]) >= count // 4, 60, what="a quarter")
            from test_faults import services
            services("stop", "mosquitto")
            services("start", "mosquitto")
            writer.finish()
            wait_until(lambda: set(row_ids([b for t, b in list(sub.messages) if t == topic], table)) >= set(range(count)),
                       120, what="every row after the restart")
            assert pgep.count(r"broker lost") >= 1
    finally:
        sub.close()
        drop_slot(slot)


def test_a_slot_that_vanished_stops_pgep_instead_of_starting_afresh(tmp_path):
    slot = unique("gone")
    state = tmp_path / "state.lsn"
    config = f"[pgep]\nstate_file = {state}\n\n" + database(slot) + upstream("cache", "redis", "wal2json->topic:gone")
    with PgepProcess(config, bridges=1, notify=False) as pgep:
        pgep.wait_log(r"streaming the WAL from slot " + slot)
        wait_until(state.exists, 10, what="the state file")
        assert pgep.stop() == 0
    drop_slot(slot)  # an operator, or max_slot_wal_keep_size, removed it while pgep was stopped
    pgep = PgepProcess(config, notify=False).start(wait_ready=False)
    assert pgep.proc.wait(30) == 1
    log = pgep.log_text()
    assert f"the replication slot {slot} is gone, but pgep had confirmed up to" in log
    assert f"delete {state}" in log
    pgep.kill()
    state.unlink()  # starting afresh on purpose
    try:
        with PgepProcess(config, bridges=1, notify=False) as pgep:
            pgep.wait_log(r"creating the replication slot " + slot)
            pgep.wait_log(r"streaming the WAL from slot " + slot)
    finally:
        drop_slot(slot)
