"""The supervisor's own promises: bounded memory (a full ledger pauses the NOTIFY source), and
a SIGTERM that waits for the brokers' confirmations up to shutdown_timeout."""
import os
import signal

from brokers import Postgres, RedisSubscriber, unique
from conftest import process_gone, wait_until
from helpers import database, upstream
from pgep_process import PgepProcess


def daemon(**settings):
    return "[pgep]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()) + "\n"


def test_a_full_ledger_pauses_the_source_and_nothing_is_lost():
    channel = unique("bp")
    sub = RedisSubscriber(f"{channel}*")
    config = daemon(ledger_max_events=100) + database() + upstream("cache", "redis", f"{channel}->topic:{channel}")
    with PgepProcess(config, bridges=1) as pgep:
        worker = pgep.worker_pids()[0]
        os.kill(worker, signal.SIGSTOP)  # the broker side stalls: nothing is acknowledged
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(2000)])
        pgep.wait_log(r"NOTIFY source paused: a bridge's ledger is full")
        assert len(sub.messages) == 0
        os.kill(worker, signal.SIGCONT)
        pgep.wait_log(r"NOTIFY source resumed")
        got = sub.wait(2000, timeout=60)
        assert [int(b) for _, b in got] == list(range(2000))
        pg.close()
    sub.close()


def freeze_the_worker_and_notify(pgep, channel, payloads):
    """Stops pgep's one worker with SIGSTOP, sends `payloads` on `channel` and waits until pgep
    read them all (log_level = debug); returns the worker's pid."""
    worker = pgep.worker_pids()[0]
    os.kill(worker, signal.SIGSTOP)
    pg = Postgres()
    pg.notify(channel, payloads)
    pg.close()
    pgep.wait_log(r"NOTIFY on", count=len(payloads))
    return worker


def test_sigterm_waits_for_the_events_in_flight():
    channel = unique("drain")
    sub = RedisSubscriber(f"{channel}*")
    config = daemon(shutdown_timeout="30s", log_level="debug") + database() + upstream("cache", "redis", f"{channel}->topic:{channel}")
    pgep = PgepProcess(config, bridges=1).start()
    try:
        worker = freeze_the_worker_and_notify(pgep, channel, [f"k|{i}" for i in range(50)])
        pgep.proc.send_signal(signal.SIGTERM)
        pgep.wait_log(r"SIGTERM: stopping; waiting up to 30000 ms for 50 event\(s\) in flight")
        os.kill(worker, signal.SIGCONT)
        assert pgep.proc.wait(30) == 0
        assert [int(b) for _, b in sub.wait(50)] == list(range(50))
        assert "shutdown_timeout passed" not in pgep.log_text()
    finally:
        pgep.kill()
        sub.close()


def test_sigterm_gives_up_after_shutdown_timeout_and_says_so():
    channel = unique("stuck")
    config = daemon(shutdown_timeout="500ms", log_level="debug") + database() + upstream("cache", "redis", f"{channel}->topic:x")
    pgep = PgepProcess(config, bridges=1).start()
    try:
        freeze_the_worker_and_notify(pgep, channel, ["k|never confirmed"])
        pgep.proc.send_signal(signal.SIGTERM)
        assert pgep.proc.wait(30) == 0
        log = pgep.log_text()
        assert "shutdown_timeout passed with 1 event(s) unconfirmed" in log
        assert "did not exit in time; killing it" in log
    finally:
        pgep.kill()


def test_workers_exit_when_the_supervisor_is_killed_with_9():
    channel = unique("orphan")
    config = database() + upstream("cache", "redis", f"{channel}->topic:a, {channel}->topic:b")
    pgep = PgepProcess(config, bridges=2).start()
    try:
        workers = pgep.worker_pids()
        assert len(workers) == 2
        os.kill(pgep.proc.pid, signal.SIGKILL)
        pgep.proc.wait(10)

        wait_until(lambda: all(process_gone(p) for p in workers), 10, what="the orphaned workers to exit")
    finally:
        pgep.kill()
