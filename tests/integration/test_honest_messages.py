"""What pgep says must be true (review findings 21 and 23): no "said Hello twice" for a stop
before a worker's Hello, counters that never go backwards, a restart that says what it did, no
"paused" line at every stop, and a SIGHUP during start-up that does not kill pgep."""
import os
import signal
import socket
import struct
import threading

from brokers import Postgres, RedisSubscriber, unique
from conftest import wait_until
from helpers import database, upstream
from pgep_process import PgepProcess


def test_a_stop_at_start_up_before_the_workers_said_hello_is_not_called_a_protocol_error():
    channels = [unique("hello") for _ in range(8)]
    bridges = ",\n  ".join(f"{c}->topic:{c}" for c in channels)  # continuation lines
    pgep = PgepProcess(database() + upstream("cache", "redis", bridges), bridges=8)
    pgep.start(wait_ready=False)
    try:
        pgep.wait_log(r"starting 8 bridge\(s\)")
        pgep.proc.send_signal(signal.SIGTERM)  # most workers have not said Hello yet
        assert pgep.proc.wait(30) == 0
        assert "said Hello twice" not in pgep.log_text()
        assert "killing it" not in pgep.log_text()
    finally:
        pgep.kill()


def test_counters_never_go_backwards_when_a_worker_restarts():
    channel = unique("count")
    sub = RedisSubscriber(f"{channel}*")
    pgep = PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1).start()
    try:
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(100)])
        sub.wait(100)

        def published():
            return pgep.status()["bridges"][0]["published"]
        wait_until(lambda: published() >= 100, 10, what="the worker to report 100 published")
        os.kill(pgep.worker_pids()[0], signal.SIGKILL)
        pgep.wait_log(r"broker connected", count=2)
        pg.notify(channel, ["k|after"])
        pg.close()
        sub.wait(101)
        wait_until(lambda: published() >= 101, 10, what="the count to go on from 100")
    finally:
        pgep.kill()
        sub.close()


def test_pgep_ctl_restart_says_so_when_there_is_no_worker_to_restart():
    channel = unique("rst")
    pgep = PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1).start()
    try:
        name = pgep.status()["bridges"][0]["name"]
        os.kill(pgep.worker_pids()[0], signal.SIGKILL)
        pgep.wait_log(r"worker was killed by signal 9; restarting in")
        answer = pgep.ctl("restart", name)  # the new worker starts some 200 ms later
        assert answer.returncode == 1, answer.stdout + answer.stderr
        assert "no worker to restart" in answer.stderr and "restarting" in answer.stderr
    finally:
        pgep.kill()


def test_a_stop_does_not_say_the_wal_source_paused_for_a_full_ledger(wal):
    pgep = wal.start(upstream("cache", "redis", f"wal2json->topic:{wal.table}"))
    pgep.proc.send_signal(signal.SIGTERM)
    assert pgep.proc.wait(30) == 0
    assert "WAL source paused: a bridge's ledger is full" not in pgep.log_text()


def test_a_sighup_while_pgep_starts_does_not_kill_it(tmp_path):
    """The configuration file is a FIFO, so pgep is held while it reads it: the SIGHUP comes
    while pgep is starting, before its configuration is loaded."""
    channel = unique("hup")
    fifo = tmp_path / "pgep.ini"
    os.mkfifo(fifo)
    pgep = PgepProcess(None, bridges=1)
    pgep.config = str(fifo)
    pgep.start(wait_ready=False)
    try:
        def reading():
            try:
                return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody reads it yet
                return None
        writer = wait_until(reading, 10, what="pgep to read its configuration")
        pgep.proc.send_signal(signal.SIGHUP)
        os.write(writer, (database() + upstream("cache", "redis", f"{channel}->topic:{channel}")).encode())
        os.close(writer)
        pgep.wait_ready()
        assert pgep.proc.poll() is None
        pgep.proc.send_signal(signal.SIGTERM)
        assert pgep.proc.wait(30) == 0
    finally:
        pgep.kill()


def test_a_database_connection_reset_while_connecting_says_so():
    # libuv reports any socket error while polling as "bad file descriptor"; the message must be
    # libpq's own, which says what happened. A server that accepts and resets at once.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def reset_every_connection():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=reset_every_connection, daemon=True)
    thread.start()
    channel = unique("reset")
    config = upstream("cache", "redis", f"{channel}->topic:{channel}")
    env = {"PGPROXY_DATABASE-URI": f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/postgres",
           "PGPROXY_PGEP-ACTIVE_STANDBY": "false"}  # the sources' own sessions, not the lock's
    try:
        with PgepProcess(config, env=env, notify=False) as pgep:
            pgep.wait_log(r"NOTIFY connection failed: ")
            pgep.wait_log(r"outbox connection failed: ")
            assert "bad file descriptor" not in pgep.log_text(), pgep.log_text()
            assert pgep.count(r"connection failed: .*(reset|closed the connection)") >= 2, pgep.log_text()
    finally:
        stop.set()
        thread.join()
        listener.close()
