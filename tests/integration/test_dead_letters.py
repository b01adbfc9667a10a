"""Dead letters (issue 10, finding 8): a message that can never be delivered is written to
events.dead_letters, and the events after it flow on — the slot moves."""
import os

import pytest

from brokers import AmqpQueue, unique
from conftest import wait_until
from helpers import (SERVICES, connect, database, load_events_sql, redis_row_ids, row_ids, run, slot_position,
                     upstream)
from pgep_process import PgepProcess


@pytest.fixture(scope="module", autouse=True)
def helpers():
    load_events_sql()


def dead_letters(part):
    """(message_id, channel, routing_key, length(body), error) of the dead letters whose bridge
    or routing key holds `part` (the table lives on across test runs)."""
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT message_id, channel, routing_key, length(body), error FROM events.dead_letters "
                    "WHERE strpos(bridge || ' ' || routing_key, %s) > 0 ORDER BY id", (part,))
        return cur.fetchall()


def lsn_at_least(a, b):
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT %s::pg_lsn >= %s::pg_lsn", (a, b))
        return cur.fetchone()[0]


def insert_around(conn, table, middle, extra=""):
    """Rows 1 ('before'), 2 (`middle`: the rest of its VALUES) and 3 ('after'), each its own
    transaction (`extra`: more VALUES for rows 1 and 3); returns the WAL position after them."""
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1, 'before'{extra})")
        cur.execute(f"INSERT INTO {table} VALUES (2, {middle})")
        cur.execute(f"INSERT INTO {table} VALUES (3, 'after'{extra})")
        cur.execute("SELECT pg_current_wal_lsn()::text")
        return cur.fetchone()[0]


def bridge_status(pgep):
    return pgep.status()["bridges"][0]


def rabbitmq_max_message_size(size):
    result = run([SERVICES, "rabbitmqctl", os.environ["PGEP_SERVICES_DIR"], "eval",
                  f"application:set_env(rabbit, max_message_size, {size})."], timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_row_over_the_frame_limit_is_a_dead_letter_and_the_rows_after_it_arrive(wal):
    with wal.conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {wal.table} ADD COLUMN b bytea")
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}")
    sub = wal.redis(f"{wal.table}*")
    pgep = wal.start(cache)
    # 36 MiB of bytes: wal2json writes them as 72 MiB of hex, over the 64 MiB frame limit.
    written = insert_around(wal.conn, wal.table, "'huge', decode(repeat('ab', 36 * 1024 * 1024), 'hex')",
                            extra=", NULL")
    wait_until(lambda: sorted(redis_row_ids(sub, wal.table)) == [1, 3], 120,
               what=lambda: f"rows 1 and 3 (have {redis_row_ids(sub, wal.table)})")
    letters = wait_until(lambda: dead_letters(wal.table), 60, what="the dead letter")
    assert len(letters) == 1
    message_id, channel, routing_key, length, error = letters[0]
    assert channel == "wal2json" and routing_key.endswith(".insert") and length > 64 * 1024 * 1024
    assert "64 MiB" in error, error
    pgep.wait_log(r"message " + message_id + r" is dead letter \d+ in events.dead_letters")
    wait_until(lambda: lsn_at_least(slot_position(wal.slot)[0], written), 60, what="the slot to pass the rows")
    status = bridge_status(pgep)
    assert status["dead_letters"] == 1 and status["restarts"] == 0, status


def test_a_row_over_rabbitmqs_max_message_size_is_a_dead_letter_after_its_refusals(wal):
    table = wal.table
    amqp = wal.amqp("amq.topic", f"public.{table}.insert")
    rabbitmq_max_message_size(1024 * 1024)
    try:
        bus = upstream("bus", "amqp", "wal2json->exchange:amq.topic", dead_letter_after=2)
        pgep = wal.start(bus)
        written = insert_around(wal.conn, table, "repeat('x', 2 * 1024 * 1024)")
        got = amqp.drain(lambda m: len(m) >= 2, timeout=120)
        assert sorted(row_ids([body for _, body, _ in got], table)) == [1, 3]
        letters = wait_until(lambda: dead_letters(f"public.{table}."), 60, what="the dead letter")
        assert len(letters) == 1
        message_id, channel, routing_key, length, error = letters[0]
        assert routing_key == f"public.{table}.insert" and length > 2 * 1024 * 1024
        assert "refused 3 times" in error and "max size" in error, error
        wait_until(lambda: lsn_at_least(slot_position(wal.slot)[0], written), 60, what="the slot to pass the rows")
        assert bridge_status(pgep)["dead_letters"] == 1
    finally:
        rabbitmq_max_message_size(128 * 1024 * 1024)


def test_a_message_refused_more_than_dead_letter_after_times_is_a_dead_letter_and_the_rest_arrive():
    channel = unique("dl")
    amqp = AmqpQueue("amq.topic", f"{channel}-ok")
    try:
        bus = upstream("bus", "amqp", f"{channel}->exchange:amq.topic", unroutable="error", dead_letter_after=1)
        pgep = PgepProcess(f"[pgep]\n\n{database()}{bus}", bridges=1).start()
        try:
            pgep.wait_ready()
            with connect() as conn, conn.cursor() as cur:
                for i in range(20):
                    key = f"{channel}-nobody" if i == 5 else f"{channel}-ok"
                    cur.execute("SELECT pg_notify(%s, %s)", (channel, f"{key}|message {i}"))
            got = amqp.fetch(19, timeout=60)
            assert sorted(int(body.split()[1]) for _, body, _ in got) == [i for i in range(20) if i != 5]
            letters = wait_until(lambda: dead_letters(channel), 60, what="the dead letter")
            assert [(c, r) for _, c, r, _, _ in letters] == [(channel, f"{channel}-nobody")]
            assert "refused 2 times" in letters[0][4]
            wait_until(lambda: bridge_status(pgep)["in_flight"] == 0, 30, what="nothing in flight")
        finally:
            pgep.stop()
    finally:
        amqp.close()
