"""Row changes from the WAL (wal2json through a logical slot) to the brokers, at least once.
Each test gets its slot, table, subscribers and pgeps from the `wal` fixture (wal_setup.py)."""
import os
import random
import signal

import psycopg2

from conftest import process_gone, wait_until
from helpers import RowWriter, connect, drop_slot, insert_rows, redis_row_ids, row_ids, services, slot_position, upstream


def test_rows_reach_every_upstream_with_their_routing_keys(wal):
    table = wal.table
    redis_sub = wal.redis("wal*")
    mqtt_all = wal.mqtt("#")
    amqp = wal.amqp("amq.topic", f"public.{table}.*")
    wal.start(upstream("cache", "redis", "wal2json->topic:wal"), upstream("things", "mqtt", "wal2json->topic:wal"),
              upstream("bus", "amqp", "wal2json->exchange:amq.topic"))
    insert_rows(wal.conn, table, 0, 3000, 1000)
    with wal.conn.cursor() as cur:
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


def test_the_slot_position_moves_forward_while_the_stream_is_idle(wal):
    other = "otherdb_" + wal.slot.rsplit("_", 1)[-1]
    admin = connect()
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {other}")
    try:
        wal.start(upstream("cache", "redis", "wal2json->topic:wal"))
        start, _ = slot_position(wal.slot)
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
            confirmed, _ = slot_position(wal.slot)
            with connect() as c, c.cursor() as cur:
                cur.execute("SELECT %s::pg_lsn >= %s::pg_lsn", (confirmed, written))
                return cur.fetchone()[0]
        wait_until(moved, 60, what=f"confirmed_flush_lsn to pass {written} (it was {start})")
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {other}")
        admin.close()


def test_a_slot_of_another_plugin_is_a_clear_error(wal):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (wal.slot,))
    pgep = wal.pgep(upstream("cache", "redis", "wal2json->topic:wal")).start(wait_ready=False)
    assert pgep.proc.wait(30) == 1
    assert (f'the replication slot {wal.slot} uses the plugin "test_decoding", but output_plugin is {wal.plugin}; '
            'set replication_slot to another name, or drop the slot') in pgep.log_text()


def test_kill_9_the_supervisor_while_rows_flow_every_row_arrives(wal):
    table = wal.table
    count = 20000
    sub = wal.redis("crash*")
    cache = upstream("cache", "redis", "wal2json->topic:crash")
    # Rows written before the slot exists are not in it: the writer starts once pgep streams.
    writer = RowWriter(table, count, 500, pause=0.05)
    seed = random.randrange(1 << 30)
    print(f"kill points seed: {seed}")
    rng = random.Random(seed)
    for round in range(5):
        pgep = wal.start(cache) if round == 0 else wal.pgep(cache).start()
        workers = pgep.worker_pids()
        if round == 0:
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
    wal.pgep(cache).start()

    def missing():
        return sorted(set(range(count)) - set(redis_row_ids(sub, table)))
    wait_until(lambda: not missing(), 120,
               what=lambda: f"every row (missing {len(missing())}: {missing()[:5]}...{missing()[-5:]})")


def test_50000_rows_in_transactions_of_1_to_5000_rows_reach_each_upstream(wal):
    table = wal.table
    count = 50000
    redis_sub = wal.redis("bulk*")
    mqtt_all = wal.mqtt("#")
    amqp = wal.amqp("amq.topic", f"public.{table}.insert")
    wal.start(upstream("cache", "redis", "wal2json->topic:bulk"), upstream("things", "mqtt", "wal2json->topic:bulk"),
              upstream("bus", "amqp", "wal2json->exchange:amq.topic"))
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


def test_a_transaction_larger_than_the_ledger_streams_through(wal):
    sub = wal.redis("bigtx*")
    pgep = wal.start(upstream("cache", "redis", "wal2json->topic:bigtx"), pgep="ledger_max_events = 100")
    insert_rows(wal.conn, wal.table, 0, 5000, 5000)  # one transaction of 5000 rows
    wait_until(lambda: len(set(redis_row_ids(sub, wal.table))) >= 5000, 60, what="every row of the transaction")
    assert set(redis_row_ids(sub, wal.table)) == set(range(5000))
    assert pgep.count(r"WAL source paused") >= 1
    wait_until(lambda: slot_position(wal.slot)[0] == slot_position(wal.slot)[1], 30,
               what="the slot to be confirmed up to the WAL end once all is acknowledged")


def test_kill_9_the_workers_again_and_again_while_rows_flow(wal):
    count = 10000
    sub = wal.redis("wkill*")
    pgep = wal.start(upstream("cache", "redis", "wal2json->topic:wkill"))
    writer = RowWriter(wal.table, count, 200, pause=0.02).start()
    killed = 0
    for round in range(1, 6):
        wait_until(lambda: len(set(redis_row_ids(sub, wal.table))) >= round * count // 7 or
                   not writer.thread.is_alive(), 60, what="rows to flow")
        for pid in pgep.worker_pids():
            os.kill(pid, signal.SIGKILL)
            killed += 1
    writer.finish()
    assert killed >= 3
    wait_until(lambda: set(redis_row_ids(sub, wal.table)) >= set(range(count)), 120, what="every row")


def test_a_frozen_broker_pauses_the_wal_within_the_bound_and_delivery_resumes(wal):
    count = 20000
    sub = wal.redis("frozen*")
    redis_pid = int(open(os.path.join(os.environ["PGEP_SERVICES_DIR"], "redis", "redis.pid")).read())
    pgep = wal.start(upstream("cache", "redis", "wal2json->topic:frozen"), pgep="ledger_max_events = 500")
    os.kill(redis_pid, signal.SIGSTOP)  # connections stay open, nothing is answered
    try:
        insert_rows(wal.conn, wal.table, 0, count, 1000)
        pgep.wait_log(r"WAL source paused")
        confirmed, current = slot_position(wal.slot)
        with connect() as c, c.cursor() as cur:  # PostgreSQL holds the WAL for the slot
            cur.execute("SELECT %s::pg_lsn < %s::pg_lsn", (confirmed, current))
            assert cur.fetchone()[0]
    finally:
        os.kill(redis_pid, signal.SIGCONT)
    wait_until(lambda: len(set(redis_row_ids(sub, wal.table))) >= count, 120, what="every row after the thaw")
    assert set(redis_row_ids(sub, wal.table)) == set(range(count))


def test_a_broker_restart_mid_stream_every_row_arrives(wal):
    count = 6000
    sub = wal.mqtt("#", persistent=True)
    topic = f"mrestart.public.{wal.table}.insert"
    pgep = wal.start(upstream("things", "mqtt", "wal2json->topic:mrestart"))
    writer = RowWriter(wal.table, count, 100, pause=0.01).start()
    wait_until(lambda: len([1 for t, _ in sub.messages if t == topic]) >= count // 4, 60, what="a quarter")
    services("stop", "mosquitto")
    services("start", "mosquitto")
    writer.finish()
    wait_until(lambda: set(row_ids([b for t, b in list(sub.messages) if t == topic], wal.table)) >= set(range(count)),
               120, what="every row after the restart")
    assert pgep.count(r"broker lost") >= 1


def test_a_slot_that_vanished_stops_pgep_instead_of_starting_afresh(wal, tmp_path):
    state = tmp_path / "state.lsn"
    cache = upstream("cache", "redis", "wal2json->topic:gone")
    options = f"state_file = {state}"
    pgep = wal.start(cache, pgep=options)
    wait_until(state.exists, 10, what="the state file")
    assert pgep.stop() == 0
    drop_slot(wal.slot)  # an operator, or max_slot_wal_keep_size, removed it while pgep was stopped
    pgep = wal.pgep(cache, pgep=options).start(wait_ready=False)
    assert pgep.proc.wait(30) == 1
    log = pgep.log_text()
    assert f"the replication slot {wal.slot} is gone, but pgep had confirmed up to" in log
    assert f"delete {state}" in log
    pgep.kill()
    state.unlink()  # starting afresh on purpose
    pgep = wal.start(cache, pgep=options)
    pgep.wait_log(r"creating the replication slot " + wal.slot)


def test_a_bridge_can_decline_the_transaction_records_and_the_slot_still_moves(wal):
    plain = wal.redis("plain*")
    records = wal.redis("records*")
    wal.start(upstream("plain", "redis", "wal2json->topic:plain", wal_transaction_records="false"),
              upstream("records", "redis", "wal2json->topic:records"))
    insert_rows(wal.conn, wal.table, 0, 100, 10)
    with wal.conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn()")
        last = cur.fetchone()[0]
    insert = f"public.{wal.table}.insert".encode()
    wait_until(lambda: [c for c, _ in records.messages].count(b"records.commit") == 10, 30, what="10 commits")
    wait_until(lambda: len(plain.messages) >= 100, 30, what="100 rows without records")
    assert {c for c, _ in plain.messages} == {b"plain." + insert}
    assert sorted(redis_row_ids(plain, wal.table)) == list(range(100))
    assert [c for c, _ in records.messages].count(b"records.begin") == 10

    def slot_past_last_commit():
        with wal.conn.cursor() as cur:
            cur.execute("SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
                        (last, wal.slot))
            return cur.fetchone()[0]
    wait_until(slot_past_last_commit, 30, what="the slot past the last commit")
