"""Faults while notifications flow: a worker killed with -9, each broker stopped and restarted,
PostgreSQL restarted. Every check counts distinct events at an independent consumer."""
import os
import signal
import threading
import time

import redis

from brokers import AmqpQueue, MqttSubscriber, Postgres, RedisSubscriber, unique
from conftest import run, wait_until
from helpers import SERVICES, database, services, upstream
from pgep_process import PgepProcess


SINGLE = "[pgep]\nactive_standby = false\n\n"  # these test the sources' own fault handling


class Producer(threading.Thread):
    """Sends `count` numbered notifications "KEY|i", `batch` per transaction, pausing between
    batches so that faults land while events flow. With `keys` above 1 the key is KEY and i
    modulo `keys` (k0, k1, ...)."""

    def __init__(self, channel, count, batch=100, pause=0.01, key="k", keys=1):
        super().__init__(daemon=True)
        self.channel, self.count, self.batch, self.pause, self.key = channel, count, batch, pause, key
        self.keys = keys
        self.sent = 0
        self.error = None

    def run(self):
        pg = Postgres()
        try:
            for start in range(0, self.count, self.batch):
                pg.notify(self.channel, [f"{self.key_of(i)}|{i}" for i in range(start, min(start + self.batch, self.count))],
                          per_transaction=self.batch)
                self.sent = min(start + self.batch, self.count)
                time.sleep(self.pause)
        except Exception as e:  # reported by finish()
            self.error = e
        finally:
            pg.close()

    def key_of(self, i):
        return f"{self.key}{i % self.keys}" if self.keys > 1 else self.key

    def finish(self, timeout=120):
        self.join(timeout)
        assert not self.is_alive(), "the producer did not finish"
        assert self.error is None, f"the producer failed: {self.error}"


def numbers(bodies):
    return [int(b) for b in bodies]


def assert_all_once_at_least_and_in_order(bodies, count):
    got = numbers(bodies)
    assert set(got) == set(range(count)), f"missing: {sorted(set(range(count)) - set(got))[:20]}"
    first = []
    seen = set()
    for n in got:
        if n not in seen:
            seen.add(n)
            first.append(n)
    assert first == sorted(first), "first deliveries out of order"


def test_kill_9_a_worker_while_10000_notifications_flow():
    channel = unique("kill")
    count = 10000
    redis_sub = RedisSubscriber(f"{channel}*")
    queue = unique("killq")
    amqp = AmqpQueue(exchange=None, queue=queue, durable=True)
    config = database() + upstream("cache", "redis", f"{channel}->topic:{channel}") + \
        upstream("bus", "amqp", f"{channel}->queue:{queue}")
    with PgepProcess(config, bridges=2) as pgep:
        producer = Producer(channel, count, batch=50, pause=0.005)
        producer.start()
        killed = 0
        for round in range(1, 4):
            wait_until(lambda: producer.sent >= round * count // 4 or not producer.is_alive(), 60,
                       what="the producer to get further")
            # A worker still being restarted from the last round is not there to be killed.
            for pid in pgep.worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed += 1
        producer.finish()
        assert killed >= 3
        pgep.wait_log(r"worker was killed by signal 9", count=killed)
        got = redis_sub.wait(count, timeout=60)
        assert_all_once_at_least_and_in_order([b for _, b in got], count)
        messages = amqp.drain(lambda m: len({b for _, b, _ in m}) >= count)
        assert_all_once_at_least_and_in_order([b for _, b, _ in messages], count)
    redis_sub.close()
    amqp.close()


def test_redis_restart_while_events_flow():
    channel = unique("rr")
    count = 3000
    port = int(os.environ["PGEP_REDIS_PORT"])
    sub = RedisSubscriber(f"{channel}*")
    with PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1) as pgep:
        producer = Producer(channel, count, batch=50, pause=0.01)
        producer.start()
        wait_until(lambda: producer.sent >= count // 3, 60, what="a third of the events")
        services("stop", "redis")
        # Pub/sub delivers only to who is subscribed at that instant. The new Redis first
        # listens on 127.0.0.2 alone, where the subscriber reconnects; pgep's address
        # 127.0.0.1 opens only once the subscription is back.
        sub.url = f"redis://127.0.0.2:{port}/0"
        time.sleep(0.5)  # an outage: events keep coming and wait in pgep's ledger
        result = run([SERVICES, "start", os.environ["PGEP_SERVICES_DIR"], "redis"],
                     env=dict(os.environ, PGEP_REDIS_BIND="127.0.0.2"))
        assert result.returncode == 0, result.stderr
        wait_until(sub.connected.is_set, 20, what="the subscriber to reconnect")
        redis.Redis(host="127.0.0.2", port=port).config_set("bind", "127.0.0.1 127.0.0.2")
        producer.finish()
        got = sub.wait(count, timeout=60)
        assert set(numbers(b for _, b in got)) == set(range(count))
        assert pgep.count(r"broker lost") >= 1
    sub.close()


def test_mosquitto_restart_while_events_flow():
    channel = unique("mr")
    count = 3000
    sub = MqttSubscriber(f"{channel}/#", persistent=True)
    sub_all = MqttSubscriber("#", persistent=True)
    with PgepProcess(database() + upstream("things", "mqtt", f"{channel}->topic:{channel}"), bridges=1) as pgep:
        producer = Producer(channel, count, batch=50, pause=0.01)
        producer.start()
        wait_until(lambda: producer.sent >= count // 3, 60, what="a third of the events")
        services("stop", "mosquitto")
        time.sleep(0.5)
        services("start", "mosquitto")
        producer.finish()
        got = sub_all.wait(count, timeout=60)
        mine = [b for t, b in got if t.startswith(channel)]
        wait_until(lambda: len({b for t, b in sub_all.messages if t.startswith(channel)}) >= count, 60,
                   what="every event at the subscriber")
        assert set(numbers(b for t, b in sub_all.messages if t.startswith(channel))) == set(range(count))
        assert mine
        assert pgep.count(r"broker lost") >= 1
    sub.close()
    sub_all.close()


def test_rabbitmq_restart_while_events_flow():
    channel = unique("ar")
    count = 2000
    queue = unique("arq")
    AmqpQueue(exchange=None, queue=queue, durable=True).close()
    config = database() + upstream("bus", "amqp", f"{channel}->queue:{queue}", delivery_mode="2")
    with PgepProcess(config, bridges=1) as pgep:
        producer = Producer(channel, count, batch=50, pause=0.02)
        producer.start()
        wait_until(lambda: producer.sent >= count // 4, 60, what="a quarter of the events")
        services("stop", "rabbitmq")
        services("start", "rabbitmq")
        producer.finish()
        pgep.wait_log(r"broker connected", count=2, timeout=60)
        consumer = AmqpQueue(exchange=None, queue=queue, durable=True)
        messages = consumer.drain(lambda m: len({b for _, b, _ in m}) >= count, timeout=90)
        assert set(numbers(b for _, b, _ in messages)) == set(range(count))
        consumer.close()


def test_postgres_restart_pgep_listens_again_by_itself():
    channel = unique("pr")
    sub = RedisSubscriber(f"{channel}*")
    with PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"), bridges=1) as pgep:
        pg = Postgres()
        pg.notify(channel, ["k|0"])
        sub.wait(1)
        pg.close()
        services("stop", "postgres")
        # The NOTIFY session notices, or the lock session first (then pgep stands by until it
        # has the lock again).
        pgep.wait_log(r"NOTIFY connection lost|standby: its lock session was lost")
        services("start", "postgres")
        pgep.wait_log(r"listening on \d+ NOTIFY channel", count=2, timeout=60)
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(1, 101)])
        pg.close()
        got = sub.wait(101)
        assert set(numbers(b for _, b in got)) == set(range(101))
    sub.close()


def test_a_half_open_notify_connection_is_noticed_and_pgep_listens_again():
    """A proxy between pgep and PostgreSQL freezes the LISTEN session (its sockets stay open):
    pgep notices within 30 s, reconnects through the proxy and LISTENs again by itself."""
    from tcp_proxy import TcpProxy
    proxy = TcpProxy("127.0.0.1", os.environ["PGEP_PG_PORT"])
    channel = unique("half")
    sub = RedisSubscriber(f"{channel}*")
    config = SINGLE + f"[database]\nuri = postgresql://postgres@127.0.0.1:{proxy.port}/postgres\n\n" + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            proxy.freeze()
            pgep.wait_log(r"NOTIFY connection lost: no answer from PostgreSQL", timeout=30)
            pgep.wait_log(r"listening on \d+ NOTIFY channel", count=2, timeout=30)
            pg = Postgres()
            pg.notify(channel, ["k|after the freeze"])
            pg.close()
            assert sub.wait(1)[-1][1] == b"after the freeze"
    finally:
        sub.close()
        proxy.close()


def test_a_database_host_name_is_resolved_by_pgep_and_a_name_that_does_not_resolve_is_retried():
    """Host names are resolved off the loop (then given to libpq as hostaddr): `localhost` works;
    a name that does not resolve is a clear error, retried, and pgep answers meanwhile."""
    channel = unique("dns")
    port = os.environ["PGEP_PG_PORT"]
    sub = RedisSubscriber(f"{channel}*")
    good = f"[database]\nuri = postgresql://postgres@localhost:{port}/postgres\n\n" + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    try:
        with PgepProcess(good, bridges=1) as pgep:
            pg = Postgres()
            pg.notify(channel, ["k|by name"])
            pg.close()
            assert sub.wait(1)[-1][1] == b"by name"
    finally:
        sub.close()
    bad = SINGLE + f"[database]\nuri = postgresql://postgres@pgep-no-such-host.invalid:{port}/postgres\n\n" + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    pgep = PgepProcess(bad, bridges=1).start(wait_ready=False)
    try:
        pgep.wait_log(r"NOTIFY connection failed: cannot resolve pgep-no-such-host.invalid", timeout=30)
        assert pgep.ctl("status").returncode == 0  # the control socket answers
    finally:
        pgep.kill()


def test_a_database_that_accepts_and_says_nothing_is_given_up_after_15_s():
    """libpq ignores connect_timeout when it connects asynchronously: pgep has its own deadline."""
    from tcp_proxy import TcpProxy
    proxy = TcpProxy("127.0.0.1", os.environ["PGEP_PG_PORT"])
    proxy.freeze(new_too=True)
    channel = unique("mute")
    config = SINGLE + f"[database]\nuri = postgresql://postgres@127.0.0.1:{proxy.port}/postgres\n\n" + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    pgep = PgepProcess(config, bridges=1).start(wait_ready=False)
    try:
        pgep.wait_log(r"NOTIFY connection failed: no connection after 15 s", timeout=40)
        proxy.thaw()
        pgep.wait_log(r"listening on \d+ NOTIFY channel", timeout=40)
    finally:
        pgep.kill()
        proxy.close()


def test_half_open_outbox_and_wal_connections_are_noticed_and_pgep_goes_on(wal):
    """A proxy between pgep and PostgreSQL freezes every session (their sockets stay open): the
    outbox's idle ping and the WAL stream's asked-for replies notice within 35 s, pgep
    reconnects through the proxy and rows and durable messages flow again."""
    from helpers import load_events_sql
    from tcp_proxy import TcpProxy
    load_events_sql()
    proxy = TcpProxy("127.0.0.1", os.environ["PGEP_PG_PORT"])
    channel = unique("hoo")
    sub = RedisSubscriber(f"{wal.table}*")
    durable = RedisSubscriber(f"{channel}*")
    uri = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
    cache = upstream("cache", "redis", f"wal2json->topic:{wal.table}, {channel}->topic:{channel}")
    config = wal.config(cache, pgep="active_standby = false").replace(f"uri = {os.environ['PGEP_PG_SOCKET_URI']}",
                                                                     f"uri = {uri}")
    pgep = PgepProcess(config, bridges=1).start()
    try:
        pgep.wait_log(r"streaming the WAL from slot")
        # Frozen during its handshake, a session is given up by the handshake's 45 s deadline
        # instead, with another message: this test freezes sessions that are up.
        pgep.wait_log(r"outbox: draining events.events")
        proxy.freeze()
        pgep.wait_log(r"outbox connection lost: no answer from PostgreSQL for 10 s", timeout=40)
        pgep.wait_log(r"WAL replication connection lost: no word from the walsender for 25 s", timeout=40)
        # The old walsender holds the slot until it notices (wal_sender_timeout, 60 s): the thaw
        # lets it see that pgep closed its end, as a peer that comes back would.
        proxy.thaw()
        pgep.wait_log(r"streaming the WAL from slot", count=2, timeout=60)
        with wal.conn.cursor() as cur:
            cur.execute(f"INSERT INTO {wal.table} VALUES (1, 'after the freeze')")
            cur.execute("SELECT events.send_message(%s, 'durable after the freeze', 'k', true)", (channel,))
        wait_until(lambda: any(b"after the freeze" in b for _, b in sub.messages), 30, what="the row")
        assert durable.wait(1)[-1][1] == b"durable after the freeze"
    finally:
        pgep.kill()
        sub.close()
        durable.close()
        proxy.close()
