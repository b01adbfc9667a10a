"""Following a database failover (issue 16, item 3). Debian 12 packages PostgreSQL 15 only, so
what can be tested here is tested: a primary and its physical standby (pg_basebackup) on this
host, pgep given both in one multi-host URI with target_session_attrs=read-write. pgep skips
the standby while it is read-only, and after the primary stops and the standby is promoted its
NOTIFY, outbox and lock sessions follow to the new primary, losing no durable message. A
logical slot does not survive the promotion on 15 (failover slots are PostgreSQL 17's), and
pgep says so: "the replication slot ... is gone, but pgep had confirmed up to ...", and stops."""
import os
import re
import shutil
import tempfile

import psycopg2
import pytest

from brokers import RedisSubscriber, unique
from conftest import ROOT, run, wait_until
from helpers import SERVICES, upstream
from pgep_process import PgepProcess

PG_BIN = "/usr/lib/postgresql/15/bin"
PORT_BASE = 27000
PRIMARY_PORT, STANDBY_PORT = PORT_BASE + 432, PORT_BASE + 433


def as_postgres(args):
    return ["runuser", "-u", "postgres", "--"] + args if os.geteuid() == 0 else args


class Pair:
    """A primary (scripts/services on PORT_BASE) and a physical standby of it."""

    def __init__(self, directory):
        self.directory = directory
        self.env = dict(os.environ, PGEP_PORT_BASE=str(PORT_BASE))
        started = run([SERVICES, "start", directory, "postgres"], env=self.env, timeout=120)
        assert started.returncode == 0, started.stderr
        self.primary_run = os.path.join(directory, "postgres", "run")
        self.standby_dir = os.path.join(directory, "standby")
        self.standby_run = os.path.join(self.standby_dir, "run")
        os.makedirs(self.standby_run)
        if os.geteuid() == 0:
            shutil.chown(self.standby_dir, "postgres")
            shutil.chown(self.standby_run, "postgres")
        data = os.path.join(self.standby_dir, "data")
        copied = run(as_postgres([f"{PG_BIN}/pg_basebackup", "-h", self.primary_run, "-p", str(PRIMARY_PORT),
                                  "-U", "postgres", "-D", data, "-R", "-X", "stream", "-c", "fast"]), timeout=120)
        assert copied.returncode == 0, copied.stderr
        with open(os.path.join(data, "postgresql.conf"), "a") as conf:
            conf.write(f"port = {STANDBY_PORT}\nunix_socket_directories = '{self.standby_run}'\n")
        self.standby_ctl("start", "-l", os.path.join(self.standby_dir, "postgres.log"))
        with open(os.path.join(ROOT, "postgres", "1_events.sql")) as sql:
            self.primary().cursor().execute(sql.read())
        self.wait_replayed()

    def standby_ctl(self, *args):
        done = run(as_postgres([f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.standby_dir, "data"), "-w", *args]),
                   timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    def primary(self):
        return self._connect(self.primary_run, PRIMARY_PORT)

    def standby(self):
        return self._connect(self.standby_run, STANDBY_PORT)

    @staticmethod
    def _connect(socket_dir, port):
        conn = psycopg2.connect(host=socket_dir, port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        return conn

    def uri(self):
        """Both servers, the standby first: pgep must pass it by while it is read-only."""
        return (f"postgresql://postgres@/postgres?host={self.standby_run},{self.primary_run}"
                f"&port={STANDBY_PORT},{PRIMARY_PORT}&target_session_attrs=read-write")

    def wait_replayed(self):
        with self.primary() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_lsn()::text")
            target = cur.fetchone()[0]

        def replayed():
            with self.standby() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
                return cur.fetchone()[0]
        wait_until(replayed, 60, what=f"the standby replayed up to {target}")

    def fail_over(self):
        """The primary stops (what it committed is on the standby), the standby is promoted."""
        self.wait_replayed()
        stopped = run([SERVICES, "stop", self.directory, "postgres"], env=self.env, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        self.standby_ctl("promote")

    def close(self):
        run(as_postgres([f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.standby_dir, "data"), "-m", "immediate",
                         "stop"]), timeout=60)
        run([SERVICES, "stop", self.directory, "postgres"], env=self.env, timeout=120)


@pytest.fixture
def pair():
    directory = tempfile.mkdtemp(prefix="pgep-fo-", dir="/tmp")
    made = None
    try:
        made = Pair(directory)
        yield made
    finally:
        if made:
            made.close()
        shutil.rmtree(directory, ignore_errors=True)


def send_durable(conn, channel, numbers):
    with conn.cursor() as cur:
        for i in numbers:
            cur.execute("SELECT events.send_message(%s, %s, %s, true)", (channel, f"durable {i}", "k"))


def durable_bodies(sub):
    return {b.decode() for _, b in list(sub.messages) if b.startswith(b"durable ")}


def test_notify_outbox_and_lock_sessions_follow_the_promoted_standby_and_lose_no_durable_message(pair):
    channel, prefix = unique("fo"), unique("fo")
    sub = RedisSubscriber(f"{prefix}*")
    config = f"[database]\nuri = {pair.uri()}\n\n" + upstream("cache", "redis", f"{channel}->topic:{prefix}")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            assert pgep.status()["role"] == "active"
            send_durable(pair.primary(), channel, range(20))
            wait_until(lambda: durable_bodies(sub) == {f"durable {i}" for i in range(20)}, 30, what="20 durable messages")
            send_durable(pair.primary(), channel, range(20, 40))  # some may still wait when the primary stops
            pair.fail_over()
            # NOTIFY and the outbox listen again, on the promoted standby: the standby was passed
            # by while read-only, the primary is gone.
            pgep.wait_log(r"listening on 1 NOTIFY channel", count=2, timeout=90)
            pgep.wait_log(r"active: this pgep holds the lock", count=2, timeout=90)
            send_durable(pair.standby(), channel, range(40, 60))
            wait_until(lambda: durable_bodies(sub) == {f"durable {i}" for i in range(60)}, 60,
                       what="every durable message, those of the old primary and of the new one")
            with pair.standby() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_notify(%s, %s)", (channel, "k|after the failover"))
            wait_until(lambda: any(b == b"after the failover" for _, b in list(sub.messages)), 30,
                       what="a NOTIFY on the new primary")
    finally:
        sub.close()


@pytest.mark.parametrize("state", ["file", "table"])
def test_a_promoted_standby_without_the_slot_is_the_clear_slot_is_gone_error(pair, state, tmp_path):
    """The state, in a file or in the database's table (replicated to the standby with the rest),
    names the same cluster after the promotion, so the missing slot is noticed either way."""
    slot, prefix = unique("fo_slot"), unique("fos")
    sub = RedisSubscriber(f"{prefix}*")
    keep = f"state_directory = {tmp_path}" if state == "file" else "state_table = pgep_state"
    config = (f"[pgep]\n{keep}\n\n[database]\nuri = {pair.uri()}\nreplication_slot = {slot}\n\n" +
              upstream("cache", "redis", f"wal2json->topic:{prefix}"))
    try:
        with pair.primary() as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE fo_rows (id int PRIMARY KEY)")
        pgep = PgepProcess(config, bridges=1, notify=False)
        try:
            pgep.start()
            pgep.wait_log(r"streaming the WAL from slot " + slot)
            with pair.primary() as conn, conn.cursor() as cur:
                cur.execute("INSERT INTO fo_rows SELECT generate_series(1, 10)")
            wait_until(lambda: len(sub.messages) >= 10, 30, what="the rows through the slot")
            pair.fail_over()
            where = re.escape(str(tmp_path)) + r"/.*\.state" if state == "file" else "the state table pgep_state"
            assert pgep.proc.wait(90) == 1
            assert re.search(r"the replication slot " + slot + r" is gone, but pgep had confirmed up to "
                             r"[0-9A-F]+/[0-9A-F]+ \(" + where + r"\): what was written since may be lost",
                             pgep.log_text()), pgep.log_text()
        finally:
            pgep.kill()
    finally:
        sub.close()
