"""Durable messages: postgres/1_events.sql's helpers and pgep's outbox drain."""
import json
import os

import pytest

from brokers import RedisSubscriber, unique
from conftest import ROOT, wait_until
from helpers import connect, database, upstream
from pgep_process import PgepProcess


@pytest.fixture(scope="module", autouse=True)
def helpers():
    conn = connect()
    with conn.cursor() as cur, open(os.path.join(ROOT, "postgres", "1_events.sql")) as sql:
        cur.execute(sql.read())  # idempotent: loaded again is the same
    conn.close()


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
