"""Durable messages: postgres/1_events.sql's helpers and pgep's outbox drain."""
import json
import os
import signal
import time

import pytest

from brokers import RedisSubscriber, unique
from conftest import wait_until
from helpers import connect, database, load_events_sql, upstream
from pgep_process import PgepProcess


@pytest.fixture(scope="module", autouse=True)
def helpers():
    load_events_sql()


def outbox_rows(channel):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events.events WHERE channel = %s", (channel,))
        return cur.fetchone()[0]


def send(channel, messages, routing_key="k", durable=True):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        for m in messages:
            cur.execute("SELECT events.send_message(%s, %s, %s, %s)", (channel, m, routing_key, durable))
        cur.execute("COMMIT")
    conn.close()


def test_durable_messages_sent_while_pgep_is_stopped_arrive_after_it_starts():
    channel = unique("dur")
    sub = RedisSubscriber(f"{channel}*")
    send(channel, [f"while stopped {i}" for i in range(100)])
    assert outbox_rows(channel) == 100
    with PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1):
        got = sub.wait(100)
        assert [b for _, b in got] == [f"while stopped {i}".encode() for i in range(100)]
        assert {c for c, _ in got} == {f"{channel}.k".encode()}
        wait_until(lambda: outbox_rows(channel) == 0, 30, what="the outbox to be emptied")
        send(channel, ["while running"])
        assert [b for _, b in sub.wait(101)][-1] == b"while running"
        wait_until(lambda: outbox_rows(channel) == 0, 30, what="the outbox to be emptied again")
    sub.close()


def test_identical_durable_messages_are_not_folded_and_a_rollback_sends_nothing():
    channel = unique("same")
    sub = RedisSubscriber(f"{channel}*")
    with PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1):
        conn = connect()
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT events.send_message(%s, 'rolled back', 'k', true)", (channel,))
            cur.execute("ROLLBACK")
        conn.close()
        send(channel, ["same"] * 500)
        got = sub.wait(500)
        assert [b for _, b in got] == [b"same"] * 500
        wait_until(lambda: outbox_rows(channel) == 0, 30, what="the outbox to be emptied")
        assert len(sub.messages) == 500
    sub.close()


def test_on_row_change_trigger_with_include_and_exclude():
    channel = unique("rows")
    table = unique("people")
    sub = RedisSubscriber(f"{channel}*")
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int primary key, name text, secret text)")
        cur.execute(f"CREATE TRIGGER t_inc AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
                    f"EXECUTE PROCEDURE events.on_row_change('{channel}', '{{\"include\":[\"id\",\"name\"]}}')")
    with PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1):
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1, 'ann', 'hidden')")
            cur.execute(f"UPDATE {table} SET name = 'bob' WHERE id = 1")
            cur.execute(f"DELETE FROM {table} WHERE id = 1")
        got = sub.wait(3)
        keys = [c.decode() for c, _ in got]
        assert keys == [f"{channel}.row_change.table-{table}.event-{op}" for op in ("INSERT", "UPDATE", "DELETE")]
        rows = [json.loads(b) for _, b in got]
        assert rows[0] == {"id": 1, "name": "ann"} and rows[1] == {"id": 1, "name": "bob"}
        with conn.cursor() as cur:
            cur.execute(f"DROP TRIGGER t_inc ON {table}")
            cur.execute(f"CREATE TRIGGER t_exc AFTER INSERT ON {table} FOR EACH ROW "
                        f"EXECUTE PROCEDURE events.on_row_change('{channel}', '{{\"exclude\":[\"secret\"]}}')")
            cur.execute(f"INSERT INTO {table} VALUES (2, 'cy', 'hidden')")
        got = sub.wait(4)
        assert json.loads(got[3][1]) == {"id": 2, "name": "cy"}
    conn.close()
    sub.close()


def test_rows_of_channels_this_pgep_does_not_route_stay_for_the_one_that_does():
    mine, theirs = unique("mine"), unique("theirs")
    sub = RedisSubscriber(f"{theirs}*")
    send(theirs, [f"t{i}" for i in range(10)])
    try:
        with PgepProcess(database() + upstream("cache", "redis", f"{mine}->topic:{mine}"), bridges=1) as other:
            send(mine, ["m"])
            wait_until(lambda: outbox_rows(mine) == 0, 30, what="this pgep's own row to be delivered and deleted")
            other.wait_log(rf'10 durable row\(s\) on the channel "{theirs}" stay in events.events')
            assert outbox_rows(theirs) == 10
        with PgepProcess(database() + upstream("cache", "redis", f"{theirs}->topic:{theirs}"), bridges=1):
            assert sorted(b for _, b in sub.wait(10)) == sorted(f"t{i}".encode() for i in range(10))
            wait_until(lambda: outbox_rows(theirs) == 0, 30, what="the rows to be deleted by the pgep that routes them")
    finally:
        sub.close()


def test_a_failing_delete_is_retried_without_publishing_the_rows_again():
    channel, role = unique("nodel"), unique("nodel")
    admin = connect()
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f"GRANT USAGE ON SCHEMA events TO {role}")
        cur.execute(f"GRANT SELECT ON events.events TO {role}")  # but not DELETE
    uri = os.environ["PGEP_PG_SOCKET_URI"].replace("postgres@", f"{role}@", 1)
    sub = RedisSubscriber(f"{channel}*")
    send(channel, [f"once {i}" for i in range(10)])
    try:
        config = f"[database]\nuri = {uri}\n\n" + upstream("cache", "redis", f"{channel}->topic:{channel}")
        with PgepProcess(config, bridges=1) as pgep:
            assert len(sub.wait(10)) == 10
            pgep.wait_log(r"cannot delete delivered rows from events.events: .*GRANT SELECT, DELETE ON events.events")
            # Watched for three seconds (the DELETE is tried again meanwhile): nothing is sent again.
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert len(sub.messages) == 10, "rows were published again after a failed DELETE"
                time.sleep(0.1)
            with admin.cursor() as cur:
                cur.execute(f"GRANT DELETE ON events.events TO {role}")
            wait_until(lambda: outbox_rows(channel) == 0, 90, what="the DELETE to succeed once allowed")
            assert len(sub.messages) == 10
    finally:
        sub.close()
        with admin.cursor() as cur:
            cur.execute("DELETE FROM events.events WHERE channel = %s", (channel,))
            cur.execute(f"REVOKE ALL ON events.events FROM {role}")
            cur.execute(f"REVOKE ALL ON SCHEMA events FROM {role}")
            cur.execute(f"DROP ROLE {role}")
        admin.close()


def test_a_row_committed_behind_a_pass_in_progress_is_not_stranded():
    """The review's finding 13: a row whose id is below the pass's cursor commits (its wake-up
    arriving while the outbox is paused); a new pass from the start must read it."""
    channel = unique("late")
    sub = RedisSubscriber(f"{channel}*")
    redis_pid = int(open(os.path.join(os.environ["PGEP_SERVICES_DIR"], "redis", "redis.pid")).read())
    config = "[pgep]\nledger_max_events = 100\nlog_level = debug\n\n" + database() + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    late = connect()
    try:
        with PgepProcess(config, bridges=1) as pgep:
            with late.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("SELECT events.send_message(%s, 'late', 'k', true)", (channel,))  # the lowest id
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                send(channel, [f"m{i}" for i in range(600)])  # one wake-up; the pass pauses on the full ledger
                wait_until(lambda: pgep.status()["bridges"][0]["in_flight"] >= 100,
                           30, what="the ledger to fill")
                with late.cursor() as cur:
                    cur.execute("COMMIT")
                pgep.wait_log(r"outbox: wake-up during a pass")
            finally:
                os.kill(redis_pid, signal.SIGCONT)
            wait_until(lambda: any(b == b"late" for _, b in list(sub.messages)), 60, what="the late row")
            wait_until(lambda: outbox_rows(channel) == 0, 60, what="the outbox to be emptied")
    finally:
        late.close()
        sub.close()


def test_large_durable_messages_are_read_in_batches_bounded_in_bytes_and_all_arrive():
    """40 messages of 1 MiB in one transaction (one wake-up): pgep reads them 8 MiB at a time, and
    a batch cut by its bytes is not taken for the end of the table."""
    channel = unique("big")
    sub = RedisSubscriber(f"{channel}*")
    try:
        with PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1):
            send(channel, [f"{i:02d}" + "x" * (1 << 20) for i in range(40)])
            got = sub.wait(40, timeout=60)
            assert [b[:2] for _, b in got] == [f"{i:02d}".encode() for i in range(40)]
            wait_until(lambda: outbox_rows(channel) == 0, 30, what="the outbox to be emptied")
    finally:
        sub.close()
