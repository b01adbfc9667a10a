"""Secrets stay where they belong (issue 11): a worker's environment holds nothing the
supervisor was given, and passwords are masked in every form the configuration takes."""
import os

from brokers import unique
from conftest import wait_until
from helpers import upstream
from pgep_process import PgepProcess


def environment_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(entry.split(b"=", 1) for entry in f.read().split(b"\0") if b"=" in entry)


def test_workers_start_with_a_minimal_environment(tmp_path):
    secret_file = tmp_path / "log-level"
    secret_file.write_text("info\n")
    channel = unique("env")
    env = {
        # The seed's form of the configuration: the database and an upstream from the environment.
        "PGPROXY_DATABASE-URI": os.environ["PGEP_PG_SOCKET_URI"],
        "PGPROXY_PGEP-LOG_LEVEL_FILE": str(secret_file),  # a setting read from a file, as secrets are
        "AWS_SECRET_ACCESS_KEY": "not-for-workers",
        "TZ": "UTC",
    }
    config = upstream("cache", "redis", f"{channel}->topic:{channel}")
    with PgepProcess(config, env=env, bridges=1) as pgep:
        workers = wait_until(pgep.worker_pids, 10, what="the worker")
        supervisor = environment_of(pgep.proc.pid)
        assert b"PGPROXY_DATABASE-URI" in supervisor and b"AWS_SECRET_ACCESS_KEY" in supervisor
        for pid in workers:
            worker = environment_of(pid)
            assert not [k for k in worker if k.startswith(b"PGPROXY_") or k.endswith(b"_FILE") and k != b"SSL_CERT_FILE"]
            assert b"AWS_SECRET_ACCESS_KEY" not in worker and b"PGEP_PG_URI" not in worker, worker
            # Only what libraries read: the locale, the time zone, the CA store, the sanitizers.
            assert set(worker) <= {b"PATH", b"TZ", b"LANG", b"LC_ALL", b"LC_CTYPE", b"LC_MESSAGES", b"SSL_CERT_FILE",
                                   b"SSL_CERT_DIR", b"ASAN_OPTIONS", b"UBSAN_OPTIONS", b"LSAN_OPTIONS"}, worker
            assert worker[b"TZ"] == b"UTC"


def test_a_password_in_a_key_value_connection_string_is_masked(tmp_path):
    channel = unique("kv")
    socket_dir = os.environ["PGEP_PG_SOCKET_DIR"]
    port = os.environ["PGEP_PG_PORT"]
    config = (f"[pgep]\nlog_level = debug\n\n[database]\nuri = host={socket_dir} port={port} user=postgres "
              f"dbname=postgres password='not shown here'\n\n" +
              upstream("cache", "redis", f"{channel}->topic:{channel}"))
    with PgepProcess(config, bridges=1) as pgep:
        pgep.wait_log(r"listening on \d+ NOTIFY channel")
        assert "not shown" not in pgep.log_text() and "shown here" not in pgep.log_text()
        printed = pgep.ctl("status").stdout
        assert "not shown" not in printed
