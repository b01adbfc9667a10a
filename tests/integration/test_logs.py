"""Logs: JSON lines when asked for, one line per forwarded message, levels, never a password."""
import json

from brokers import Postgres, RedisSubscriber, unique
from conftest import wait_until
from helpers import database, upstream
from pgep_process import PgepProcess


def test_json_lines_one_per_message_and_no_password():
    channel = unique("logs")
    sub = RedisSubscriber(f"{channel}*")
    import os
    acl = os.environ["PGEP_REDIS_ACL_URI"]  # holds the password pgep-secret
    config = "[pgep]\nlog_format = json\nlog_messages = true\n\n" + database() + \
        upstream("cache", "redis", f"{channel}->topic:{channel}", uri=acl)
    with PgepProcess(config, bridges=1) as pgep:
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(5)])
        pg.close()
        sub.wait(5)
        pgep.wait_log(r"publish seq 5 ", count=1)
        lines = [json.loads(line) for line in pgep.log_text().splitlines()]
        assert all({"time", "level", "program", "pid", "message"} <= set(line) for line in lines)
        published = [line for line in lines if line["message"].startswith("publish seq")]
        assert len(published) == 5 and all(line["level"] == "info" for line in published)
        assert any(line["program"].startswith("pgep-worker[") for line in published)
        assert "pgep-secret" not in pgep.log_text()
        assert "pgep:****@" in pgep.log_text()
    sub.close()


def test_log_level_error_keeps_info_out():
    channel = unique("quiet")
    config = "[pgep]\nlog_level = error\n\n" + database() + upstream("cache", "redis", f"{channel}->topic:x")
    with PgepProcess(config, bridges=None, notify=False) as pgep:
        wait_until(lambda: pgep.ctl("status").returncode == 0, 20, what="pgep to answer")
        assert "info:" not in pgep.log_text()


def test_a_notify_key_cannot_forge_a_log_line():
    channel = unique("forge")
    sub = RedisSubscriber(f"{channel}*")
    config = "[pgep]\nlog_messages = true\n\n" + database() + upstream("cache", "redis", f"{channel}->topic:{channel}")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            pg = Postgres()
            pg.notify(channel, ["k\n2026-01-01T00:00:00.000Z pgep[1] error: FORGED|body"])
            pg.close()
            sub.wait(1)
            pgep.wait_log(r"publish seq 1 ", count=1)
            assert not any(line.startswith("2026-01-01") for line in pgep.log_text().splitlines())
            assert "k\\n2026-01-01T00:00:00.000Z pgep[1] error: FORGED" in pgep.log_text()
    finally:
        sub.close()
