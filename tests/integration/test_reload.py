"""Reload: a broken file keeps the running configuration; bridges added and removed while events
flow lose nothing; an untouched bridge keeps its worker."""
import os
import signal
import threading
import time

from brokers import Postgres, RedisSubscriber, unique
from conftest import wait_until
from helpers import database, insert_rows, row_ids, slot_position, upstream
from pgep_process import PgepProcess


def numbers(messages, topic):
    return [int(b) for t, b in list(messages) if t == topic]


class Notifier(threading.Thread):
    def __init__(self, channel, count):
        super().__init__(daemon=True)
        self.channel, self.count, self.sent = channel, count, 0

    def run(self):
        pg = Postgres()
        for start in range(0, self.count, 20):
            pg.notify(self.channel, [f"k|{i}" for i in range(start, min(start + 20, self.count))], per_transaction=20)
            self.sent = min(start + 20, self.count)
            time.sleep(0.005)
        pg.close()


def reload_with(pgep, config_text):
    """Writes pgep's configuration file anew and reloads; the reload must succeed."""
    with open(pgep.config, "w") as f:
        f.write(config_text)
    reloaded = pgep.ctl("reload")
    assert reloaded.returncode == 0, reloaded.stderr


def notify_through_a_reload(pgep, channel, count, config_text):
    """Sends `count` numbered NOTIFYs on `channel`, reloading with `config_text` a third of the way."""
    notifier = Notifier(channel, count)
    notifier.start()
    wait_until(lambda: notifier.sent >= count // 3, 30, what="a third of the events")
    reload_with(pgep, config_text)
    notifier.join(60)


def assert_all_arrive_in_order(sub, topic, count):
    wait_until(lambda: len(numbers(sub.messages, topic)) >= count, 60, what=f"every event at {topic}")
    assert numbers(sub.messages, topic) == list(range(count))


def pid_of(pgep, name_end):
    bridges = pgep.status()["bridges"]
    return next(b["pid"] for b in bridges if b["name"].endswith(name_end))


def test_a_broken_file_keeps_the_running_configuration(tmp_path):
    channel = unique("rl")
    sub = RedisSubscriber(f"{channel}*")
    pgep = PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1).start()
    try:
        good = open(pgep.config).read()
        with open(pgep.config, "w") as f:
            f.write(good.replace("kind = redis", "kind = rediss"))
        refused = pgep.ctl("reload")
        assert refused.returncode == 1
        assert "reload refused, the running configuration stays" in refused.stderr and "kind" in refused.stderr
        pgep.proc.send_signal(signal.SIGHUP)  # the same through SIGHUP
        pgep.wait_log(r"SIGHUP: reload refused")
        pg = Postgres()
        pg.notify(channel, ["k|still running"])
        pg.close()
        assert sub.wait(1)[0][1] == b"still running"
    finally:
        pgep.kill()
        sub.close()


def test_adding_and_removing_bridges_while_events_flow_loses_nothing():
    channel = unique("rl")
    count = 4000
    a, b, c = f"{channel}a", f"{channel}b", f"{channel}c"
    sub = RedisSubscriber(f"{channel}*")
    first = database() + upstream("cache", "redis", f"{channel}->topic:{a}, {channel}->topic:{b}")
    pgep = PgepProcess(first, bridges=2).start()
    try:
        pid_a = pid_of(pgep, f"topic:{a}")
        # b goes, c comes, a stays untouched.
        notify_through_a_reload(pgep, channel, count,
                                database() + upstream("cache", "redis", f"{channel}->topic:{a}, {channel}->topic:{c}"))
        assert_all_arrive_in_order(sub, f"{a}.k".encode(), count)
        got_b = numbers(sub.messages, f"{b}.k".encode())
        got_c = numbers(sub.messages, f"{c}.k".encode())
        # b got a prefix with no gap (everything routed to it before the reload), c the rest.
        assert got_b == list(range(len(got_b))) and len(got_b) >= count // 3
        wait_until(lambda: numbers(sub.messages, f"{c}.k".encode())[-1:] == [count - 1], 30, what="the last event at c")
        got_c = numbers(sub.messages, f"{c}.k".encode())
        assert got_c == list(range(got_c[0], count))
        assert pid_of(pgep, f"topic:{a}") == pid_a
        pgep.wait_log(r"reloaded: 1 bridge\(s\) added, 1 removed, 0 changed, 1 untouched")
        names = [x["name"] for x in pgep.status()["bridges"]]
        assert sorted(n.rsplit(":", 1)[1] for n in names) == [a, c]
        assert pgep.stop() == 0
    finally:
        pgep.kill()
        sub.close()


def test_a_removed_wal_bridge_is_freed_once_drained_and_the_slot_moves_on(wal):
    kept, removed = f"{wal.table}k", f"{wal.table}r"
    sub = wal.redis(f"{wal.table}*")
    pgep = wal.start(upstream("cache", "redis", f"wal2json->topic:{kept}, wal2json->topic:{removed}"),
                     pgep="log_level = debug", bridges=2)
    insert_rows(wal.conn, wal.table, 0, 2000, 100)
    reload_with(pgep, wal.config(upstream("cache", "redis", f"wal2json->topic:{kept}"), pgep="log_level = debug"))
    insert_rows(wal.conn, wal.table, 2000, 2000, 100)
    # nginx's rule for an old cycle: gone once its worker stopped and nothing refers to its ledger.
    pgep.wait_log(r"freed 1 retired bridge\(s\)", timeout=60)
    wait_until(lambda: set(row_ids([b for c, b in list(sub.messages) if c.startswith(f"{kept}.".encode())
                                    and c.endswith(b".insert")], wal.table)) >= set(range(4000)), 60,
               what="every row at the kept bridge")
    wait_until(lambda: slot_position(wal.slot)[0] == slot_position(wal.slot)[1], 30,
               what="the slot to be confirmed up to the WAL end")
    names = [x["name"] for x in pgep.status()["bridges"]]
    assert [n.rsplit(":", 1)[1] for n in names] == [kept]
    assert pgep.stop() == 0


def test_a_reload_that_changes_the_channels_keeps_the_listen_session_and_loses_nothing():
    keep, gone, new = unique("keep"), unique("gone"), unique("new")
    count = 4000
    sub = RedisSubscriber(f"{keep}*")
    first = database() + upstream("cache", "redis", f"{keep}->topic:{keep}, {gone}->topic:{gone}")
    pgep = PgepProcess(first, bridges=2).start()
    try:
        # One channel goes, one comes, one stays.
        notify_through_a_reload(pgep, keep, count,
                                database() + upstream("cache", "redis", f"{keep}->topic:{keep}, {new}->topic:{new}"))
        assert_all_arrive_in_order(sub, f"{keep}.k".encode(), count)
        assert pgep.count(r"listening on \d+ NOTIFY channel") == 1, "the LISTEN session was opened again"
        assert pgep.count(r"NOTIFY: LISTEN .*UNLISTEN") == 1
        assert pgep.stop() == 0
    finally:
        pgep.kill()
        sub.close()


def test_a_reload_that_removes_a_stuck_bridge_resumes_the_sources_and_frees_the_slot(wal):
    """One channel and the WAL feed a healthy Redis bridge and a stuck MQTT bridge (Mosquitto
    frozen), with small ledgers: the stuck one fills and pauses both sources for everybody. A
    reload that removes it resumes them; the slot moves; the removed bridge shows in status
    until it is gone."""
    channel = unique("stuck")
    sub = wal.redis(f"{wal.table}*")
    healthy = upstream("cache", "redis", f"{channel}->topic:{wal.table}n, wal2json->topic:{wal.table}w")
    stuck = upstream("things", "mqtt", f"{channel}->topic:{wal.table}n, wal2json->topic:{wal.table}w")
    options = "ledger_max_events = 100\nshutdown_timeout = 2s"
    pgep = wal.pgep(healthy, stuck, pgep=options, bridges=4)
    pgep.notify = True
    pgep.start()
    mosquitto = int(open(os.path.join(os.environ["PGEP_SERVICES_DIR"], "mosquitto", "mosquitto.pid")).read())
    os.kill(mosquitto, signal.SIGSTOP)
    try:
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(300)])
        insert_rows(wal.conn, wal.table, 0, 300, 10)
        pgep.wait_log(r"NOTIFY source paused")
        pgep.wait_log(r"WAL source paused")
        reload_with(pgep, wal.config(healthy, pgep=options))
        pg.notify(channel, [f"k|{i}" for i in range(300, 400)])
        pg.close()
        assert_all_arrive_in_order(sub, f"{wal.table}n.k".encode(), 400)
        wait_until(lambda: set(row_ids([b for c, b in list(sub.messages) if c.endswith(b".insert")], wal.table))
                   >= set(range(300)), 60, what="every row at the healthy bridge")
        wait_until(lambda: slot_position(wal.slot)[0] == slot_position(wal.slot)[1], 30,
                   what="the slot to move past the rows the removed bridge never delivered")
        retired = [b for b in pgep.status()["bridges"] if b["retired"]]
        assert retired or pgep.count(r"freed 2 retired bridge"), "the removed bridges were neither shown nor freed"
    finally:
        os.kill(mosquitto, signal.SIGCONT)
    wait_until(lambda: not any(b["retired"] for b in pgep.status()["bridges"]),
               30, what="the removed bridges to be gone")
