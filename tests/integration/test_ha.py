"""Two pgeps with one configuration (issue 16): the one holding the database's advisory lock for
the slot is active, the other stands by with its workers connected, and takes over when the
active one is killed, frozen past takeover_timeout, or loses its lock session. Every row and
durable message arrives; docs/ha.md says why two can never both forward."""
import os
import re
import signal
import time

from brokers import RedisSubscriber, unique
from conftest import wait_until
from helpers import RowWriter, connect, database, redis_row_ids, row_ids, rows_through_slot, upstream
from pgep_process import PgepProcess

TAKEOVER = "3s"


def pair(wal, channel, subscriber_pattern, **daemon):
    """The configuration both pgeps run: the slot to Redis, and a channel (NOTIFY and outbox)."""
    daemon_text = f"takeover_timeout = {TAKEOVER}\n" + "".join(f"{k} = {v}\n" for k, v in daemon.items())
    bridges = upstream("cache", "redis", f"wal2json->topic:{subscriber_pattern}.wal, {channel}->topic:{subscriber_pattern}.ev")
    return wal.pgep(bridges, pgep=daemon_text, bridges=2)


def start_pair(wal, channel, prefix):
    """(subscriber, active pgep, standby pgep), both of the configuration `pair` gives."""
    sub = wal.redis(f"{prefix}*")
    first, second = pair(wal, channel, prefix), pair(wal, channel, prefix)
    first.start()
    first.wait_log(r"active: this pgep holds the lock")
    second.start()
    second.wait_log(r"standby: another pgep holds the lock")
    return sub, first, second


def send_durable(count, channel, first=0):
    conn = connect()
    with conn.cursor() as cur:
        for i in range(first, first + count):
            cur.execute("SELECT events.send_message(%s, %s, %s, true)", (channel, f"durable {i}", "k"))
    conn.close()


def role(pgep):
    return pgep.status()["role"]


def durable_bodies(sub):
    return {b.decode() for c, b in list(sub.messages) if b".ev" in c and b.startswith(b"durable ")}


def test_the_standby_takes_over_when_the_active_pgep_is_killed_and_nothing_is_lost(wal):
    channel, prefix = unique("ha"), unique("ha")
    sub, first, second = start_pair(wal, channel, prefix)
    assert (role(first), role(second)) == ("active", "standby")
    wait_until(lambda: second.status()["ready"], 30, what="the standby ready: its workers connected to their brokers")
    writer = RowWriter(wal.table, 2000, 20, pause=0.01).start()
    send_durable(50, channel)
    wait_until(lambda: writer.written >= 500, 60, what="500 rows written")
    killed_at = time.monotonic()
    first.kill()
    second.wait_log(r"active: this pgep holds the lock", timeout=30)
    took = time.monotonic() - killed_at
    second.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
    send_durable(50, channel, first=50)
    writer.thread.join(120)
    assert writer.error is None, writer.error
    wait_until(lambda: set(row_ids(bodies(sub, ".wal"), wal.table)) == set(range(2000)), 90, what="every row")
    wait_until(lambda: durable_bodies(sub) == {f"durable {i}" for i in range(100)}, 60, what="every durable message")
    assert role(second) == "active" and second.status()["takeovers"] == 1
    print(f"takeover after kill -9: {took:.2f} s")


def bodies(sub, part):
    """What arrived on the topics holding `part` (".wal": the WAL bridge's, ".ev": the channel's)."""
    return [b for c, b in list(sub.messages) if part.encode() in c]


def test_twenty_kills_alternating_between_two_pgeps_lose_no_row(wal):
    channel, prefix = unique("ha20"), unique("ha20")
    sub = wal.redis(f"{prefix}*")
    pgeps = [pair(wal, channel, prefix), pair(wal, channel, prefix)]
    pgeps[0].start()
    pgeps[0].wait_log(r"active: this pgep holds the lock")
    pgeps[1].start()
    writer = RowWriter(wal.table, 4000, 20, pause=0.02).start()
    send_durable(20, channel)
    active = 0
    for round_ in range(20):
        standby = 1 - active
        pgeps[standby].wait_log(r"standby: another pgep holds the lock|active: this pgep", timeout=30)
        before = pgeps[standby].count(r"active: this pgep holds the lock")
        pgeps[active].kill()
        pgeps[standby].wait_log(r"active: this pgep holds the lock", count=before + 1, timeout=30)
        send_durable(5, channel, first=20 + 5 * round_)
        pgeps[active] = pair(wal, channel, prefix)  # again, as the standby now
        pgeps[active].start(wait_ready=False)
        active = standby
    writer.thread.join(180)
    assert writer.error is None, writer.error
    wait_until(lambda: set(row_ids(bodies(sub, ".wal"), wal.table)) == set(range(4000)), 120, what="every row")
    wait_until(lambda: durable_bodies(sub) == {f"durable {i}" for i in range(120)}, 60, what="every durable message")


def test_a_frozen_active_pgep_stands_down_when_it_wakes_and_forwards_nothing_more(wal):
    channel, prefix = unique("hafrz"), unique("hafrz")
    sub, first, second = start_pair(wal, channel, prefix)
    writer = RowWriter(wal.table, 1500, 20, pause=0.01).start()
    wait_until(lambda: writer.written >= 300, 60, what="300 rows written")
    os.kill(first.proc.pid, signal.SIGSTOP)  # the supervisor only: its workers go on
    try:
        second.wait_log(r"active: this pgep holds the lock", timeout=30)
        # The frozen pgep's walsender goes after wal_sender_timeout (20 s), then the WAL follows.
        second.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=60)
        mark = len(first.log_text())
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
    first.wait_log(r"standby: the lease ran out|standby: its lock session was lost", since=mark, timeout=30)
    after = first.log_text()[mark:]
    assert "streaming the WAL" not in after and "listening on" not in after, after
    writer.thread.join(120)
    wait_until(lambda: set(row_ids(bodies(sub, ".wal"), wal.table)) == set(range(1500)), 90, what="every row")
    assert role(first) == "standby" and role(second) == "active"


def test_an_active_pgep_whose_lock_session_is_terminated_stands_down_at_once(wal):
    channel, prefix = unique("haterm"), unique("haterm")
    sub, first, second = start_pair(wal, channel, prefix)
    admin = connect()
    with admin.cursor() as cur:
        cur.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1885824368 AND granted")
        holders = [row[0] for row in cur.fetchall()]
        assert len(holders) >= 1
        for pid in holders:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    first.wait_log(r"standby: its lock session was lost", timeout=30)
    wait_until(lambda: "active" in (role(first), role(second)), 30, what="one of them active again")
    assert sorted([role(first), role(second)]) == ["active", "standby"]
    writer = RowWriter(wal.table, 300, 20).start()
    writer.thread.join(60)
    wait_until(lambda: set(row_ids(bodies(sub, ".wal"), wal.table)) == set(range(300)), 60, what="every row")


def test_active_standby_off_is_the_single_pgep_of_before():
    channel = unique("single")
    config = "[pgep]\nactive_standby = false\n\n" + database() + upstream("cache", "redis", f"{channel}->topic:{channel}")
    with PgepProcess(config, bridges=1) as pgep:
        assert role(pgep) == "single"
        assert not re.search(r"active: |standby: ", pgep.log_text())
        sub = RedisSubscriber(f"{channel}*")
        from brokers import notify
        notify(channel, ["k|hello"])
        assert [b for _, b in sub.wait(1)] == [b"hello"]
        sub.close()


def test_an_active_pgep_cut_off_from_postgresql_stands_down_and_the_standby_takes_over(wal):
    """A proxy between the active pgep and PostgreSQL freezes every session and every new one
    (their sockets stay open, as behind a lost route): the active pgep's lease runs out and it stands down,
    PostgreSQL ends its idle lock session, and the standby takes over; every row arrives."""
    from pgep_process import PgepProcess
    from tcp_proxy import TcpProxy
    proxy = TcpProxy("127.0.0.1", os.environ["PGEP_PG_PORT"])
    channel, prefix = unique("hacut"), unique("hacut")
    sub = wal.redis(f"{prefix}*")
    bridges = upstream("cache", "redis", f"wal2json->topic:{prefix}.wal, {channel}->topic:{prefix}.ev")
    daemon = f"takeover_timeout = {TAKEOVER}\n"
    behind = wal.config(bridges, pgep=daemon).replace(f"uri = {os.environ['PGEP_PG_SOCKET_URI']}",
                                                       f"uri = postgresql://postgres@127.0.0.1:{proxy.port}/postgres")
    first = PgepProcess(behind, bridges=2, notify=False)
    second = pair(wal, channel, prefix)
    try:
        first.start()
        first.wait_log(r"active: this pgep holds the lock")
        first.wait_log(r"streaming the WAL from slot " + wal.slot)
        second.start()
        second.wait_log(r"standby: another pgep holds the lock")
        writer = RowWriter(wal.table, 1500, 20, pause=0.01).start()
        wait_until(lambda: writer.written >= 300, 60, what="300 rows written")
        proxy.freeze(new_too=True)  # a cut: no new connection gets through either
        first.wait_log(r"standby: the lease ran out|standby: its lock session was lost", timeout=30)
        second.wait_log(r"active: this pgep holds the lock", timeout=30)
        second.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=60)
        writer.thread.join(120)
        assert writer.error is None, writer.error
        wait_until(lambda: set(row_ids(bodies(sub, ".wal"), wal.table)) == set(range(1500)), 90, what="every row")
        assert role(second) == "active"
    finally:
        first.kill()
        proxy.close()


def test_a_uri_with_options_of_its_own_keeps_the_walsender_timeout_of_a_frozen_pgep(wal):
    """pgep asks for wal_sender_timeout = 20 s on its replication session, so that the slot of a
    frozen pgep is free for the one taking over; a URI with `options` of its own used to replace
    that request, leaving PostgreSQL's 60 s."""
    uri = os.environ["PGEP_PG_SOCKET_URI"]
    text = wal.config(upstream("cache", "redis", "wal2json->topic:opts"))
    text = text.replace(f"uri = {uri}\n", f"uri = {uri}?options=-c%20search_path%3Dpublic\n")
    pgep = wal._keep(PgepProcess(text, bridges=1, notify=False), close=lambda: None)
    pgep.start()
    pgep.wait_log(r"streaming the WAL from slot " + wal.slot)
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (wal.slot,))
            walsender = cur.fetchone()[0]

        def walsender_gone():
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (walsender,))
                return cur.fetchone()[0] == 0
        os.kill(pgep.proc.pid, signal.SIGSTOP)
        try:
            frozen_at = time.monotonic()
            wait_until(walsender_gone, 45, what="the frozen pgep's walsender gone after wal_sender_timeout (20 s)")
            print(f"walsender gone {time.monotonic() - frozen_at:.1f} s after the freeze")
        finally:
            os.kill(pgep.proc.pid, signal.SIGCONT)
    finally:
        conn.close()
        pgep.kill()


def test_two_pgeps_with_a_state_file_each_take_turns_without_a_false_alarm(wal):
    """As on two hosts with the default file store: each pgep's file only sees its own
    confirmations, so when one takes over again the slot is ahead of its file. That is the other
    pgep's progress, not a recreated slot (the soak with a pair stopped on it): pgep goes on, and
    says why it cannot tell the two apart; state_table can."""
    prefix = unique("hafile")
    sub = wal.redis(f"{prefix}*")
    bridge = upstream("cache", "redis", f"wal2json->topic:{prefix}")

    def on_host(name):
        return wal.pgep(bridge, pgep=f"takeover_timeout = {TAKEOVER}", state_dir=os.path.join(wal.state_dir, name))

    def rows_through(first, count):
        rows_through_slot(wal, sub, first, count)

    a = on_host("a").start()
    a.wait_log(r"streaming the WAL from slot " + wal.slot)
    rows_through(0, 50)
    b = on_host("b").start()
    b.wait_log(r"standby: another pgep holds the lock")
    a.kill()
    b.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
    rows_through(50, 200)  # the slot moves on, a's file does not
    b.kill()
    again = on_host("a").start()
    again.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
    again.wait_log(r"the replication slot " + wal.slot + r" starts at .*, after .* which this pgep had confirmed "
                   r"\(.*\): another pgep of the pair has streamed it since, or it was dropped and created again")
    rows_through(250, 50)
    assert set(redis_row_ids(sub, wal.table)) == set(range(300))
    # The worst stale position: one a's file holds inside a transaction the stream has long left
    # behind (a bridge saved while a slower one held the slot). Trusted, it made the bridge skip
    # everything after it, and the slot moved on: the pair soak lost most of its rows that way.
    again.kill()
    b2 = on_host("b").start()
    b2.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
    rows_through(300, 50)
    b2.kill()
    add_bridge_position(os.path.join(wal.state_dir, "a"), f"cache/wal2json->topic:{prefix}")
    last = on_host("a").start()
    last.wait_log(r"streaming the WAL from slot " + wal.slot, timeout=30)
    rows_through(350, 50)
    assert set(redis_row_ids(sub, wal.table)) == set(range(400))


def add_bridge_position(directory, bridge):
    """Adds to the state file in `directory` a position of `bridge` inside a transaction that
    began at the file's own confirmed position (end 0/0: not ended when saved), checksum and all."""
    from urllib.parse import quote
    (name,) = [n for n in os.listdir(directory) if n.endswith(".state")]
    path = os.path.join(directory, name)
    with open(path) as f:
        body = f.read().split("checksum ")[0]
    confirmed = re.search(r"^confirmed_lsn (\S+)$", body, re.M).group(1)
    body += f"bridge {quote(bridge, safe='')} {confirmed} 3 0/0\n"
    digest = 1469598103934665603
    for byte in body.encode():
        digest = ((digest ^ byte) * 1099511628211) % (1 << 64)
    with open(path, "w") as f:
        f.write(body + f"checksum {digest:016x}\n")

