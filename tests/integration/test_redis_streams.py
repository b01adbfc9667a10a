"""Redis Streams (issue 15): `stream:NAME` on a redis upstream XADDs each event with the fields
id, channel, key and body; the reply acknowledges. Unlike pub/sub, a stream keeps what it was
given: a consumer that reads after pgep and Redis were restarted finds every event."""
import os

import redis

from brokers import notify, unique
from conftest import wait_until
from helpers import database, row_ids, upstream
from pgep_process import PgepProcess


def client():
    return redis.Redis.from_url(os.environ["PGEP_REDIS_URI"])


def entries(r, stream):
    """Every entry of `stream` as a dict of str fields, oldest first."""
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in r.xrange(stream)]


def test_xadd_carries_id_channel_key_and_body_per_key_or_in_one_trimmed_stream():
    channel = unique("xadd")
    per_key, fixed = unique("s"), unique("s")
    config = database() + upstream("keyed", "redis", f"{channel}->stream:{per_key}") + \
        upstream("one", "redis", f"{channel}->stream:{fixed}", stream_per_key="false", stream_maxlen="100")
    r = client()
    with PgepProcess(config, bridges=2):
        notify(channel, ["a|x", "b|y", "|z"] + [f"a|n{i}" for i in range(997)])
        wait_until(lambda: r.xlen(f"{per_key}.a") == 998, 30, what=f"998 entries in {per_key}.a")
        # The other bridge is a worker of its own: wait for its last entry too.
        wait_until(lambda: entries(r, fixed)[-1:] and entries(r, fixed)[-1]["body"] == "n996", 30,
                   what=f"the last event in {fixed}")
    first = entries(r, f"{per_key}.a")[0]
    assert first["channel"] == channel and first["key"] == "a" and first["body"] == "x" and first["id"]
    assert [e["body"] for e in entries(r, f"{per_key}.b")] == ["y"]
    assert [(e["key"], e["body"]) for e in entries(r, per_key)] == [("", "z")]
    ids = [e["id"] for e in entries(r, f"{per_key}.a")]
    assert len(set(ids)) == len(ids)
    # MAXLEN ~ 100: Redis trims whole nodes of its radix tree, so it keeps at least 100 and
    # not the whole thousand.
    kept = entries(r, fixed)
    assert 100 <= len(kept) < 1000, len(kept)
    assert kept[-1]["body"] == "n996"
    r.delete(f"{per_key}.a", f"{per_key}.b", per_key, fixed)


def test_a_key_that_is_not_a_stream_refuses_the_event_into_the_dead_letters():
    channel = unique("xwrong")
    name = unique("notastream")
    r = client()
    r.set(name, "a string")
    config = database() + upstream("cache", "redis", f"{channel}->stream:{name}", stream_per_key="false",
                                   dead_letter_after="1")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, ["k|never"])
            pgep.wait_log(r"refused by the broker: WRONGTYPE")
            pgep.wait_log(r"giving up on it \(dead letter\)")
    finally:
        r.delete(name)


def test_rows_survive_a_worker_kill_a_redis_restart_and_a_pgep_restart_with_no_gap(wal):
    stream = unique("rows")
    bridge = upstream("log", "redis", f"wal2json->stream:{stream}", stream_per_key="false")
    r = client()
    wal.through_every_restart(bridge, "redis", started=lambda: r.xlen(stream) >= 300)

    # The consumer: reads the whole stream after the restarts; the id field drops duplicates.
    def rows():
        seen, bodies = set(), []
        for entry in entries(r, stream):
            if entry["id"] not in seen:
                seen.add(entry["id"])
                bodies.append(entry["body"])
        return row_ids(bodies, wal.table)
    wait_until(lambda: len(set(rows())) == 3000, 90, what="every row in the stream")
    got = rows()
    assert sorted(got) == list(range(3000)), "a row arrived twice under two ids"
    r.delete(stream)
