"""No hung worker, no lying health (issue 10, finding 12): a frozen broker connection, a broker
that blocks publishing, a bridge that gets no acknowledgements — pgep says "not ready" while it
lasts, gets out of it by itself, and loses nothing."""
import os
from urllib.parse import urlparse

import pytest

from brokers import AmqpQueue, RedisSubscriber, notify, unique
from conftest import wait_until
from helpers import SERVICES, database, run, upstream
from pgep_process import PgepProcess
from tcp_proxy import TcpProxy


def proxy_to(uri_variable):
    uri = urlparse(os.environ[uri_variable])
    return uri, TcpProxy("127.0.0.1", uri.port)


def rabbitmqctl(*args):
    result = run([SERVICES, "rabbitmqctl", os.environ["PGEP_SERVICES_DIR"], *args], timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def blocked_rabbitmq():
    """RabbitMQ with a memory alarm: it blocks every publishing connection until the fixture ends."""
    yield lambda: rabbitmqctl("set_vm_memory_high_watermark", "0.000001")
    rabbitmqctl("set_vm_memory_high_watermark", "0.4")


def redis_behind_a_proxy(prefix, **options):
    """(channel, proxy, subscriber, configuration): one Redis bridge reaching Redis through a
    proxy the test can freeze."""
    channel = unique(prefix)
    uri, proxy = proxy_to("PGEP_REDIS_URI")
    sub = RedisSubscriber(f"{channel}*")
    config = database() + upstream("cache", "redis", f"{channel}->topic:{channel}",
                                   uri=f"redis://127.0.0.1:{proxy.port}{uri.path}", **options)
    return channel, proxy, sub, config


def test_a_frozen_redis_connection_is_given_up_and_pgep_is_not_ready_meanwhile():
    channel, proxy, sub, config = redis_behind_a_proxy("frz")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, ["k|before"])
            sub.wait(1)
            proxy.freeze(new_too=True)
            notify(channel, [f"k|frozen {i}" for i in range(5)])
            pgep.wait_log(r"broker lost: no reply from Redis for 10 s", timeout=30)
            wait_until(lambda: not pgep.status()["ready"], 15, what="pgep to say it is not ready")
            proxy.thaw()
            wait_until(lambda: {b for _, b in sub.messages} >= {f"frozen {i}".encode() for i in range(5)}, 60,
                       what="every message sent while the connection was frozen")
            wait_until(lambda: pgep.status()["ready"], 30, what="pgep to be ready again")
    finally:
        sub.close()
        proxy.close()


def test_a_bridge_without_acknowledgements_for_stall_timeout_is_stalled_and_its_worker_restarted():
    channel = unique("stl")
    uri, proxy = proxy_to("PGEP_AMQP_URI")
    amqp = AmqpQueue("amq.topic", f"{channel}-key")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:amq.topic", stall_timeout="3s",
                                   uri=f"amqp://{uri.netloc.split('@')[0]}@127.0.0.1:{proxy.port}{uri.path}")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            proxy.freeze(new_too=True)  # published into, never confirmed; new connections hang
            notify(channel, [f"{channel}-key|held {i}" for i in range(5)])
            wait_until(lambda: pgep.status()["bridges"][0]["stalled"], 20, what="the bridge to be stalled")
            assert not pgep.status()["ready"]
            pgep.wait_log(r"stalled: 5 event\(s\) outstanding and no acknowledgement for 3 s while its worker says "
                          r"it is connected; restarting it", timeout=10)
            proxy.thaw()
            got = amqp.fetch(5, timeout=60)
            assert {body for _, body, _ in got} >= {f"held {i}".encode() for i in range(5)}
            wait_until(lambda: pgep.status()["ready"], 30, what="pgep to be ready again")
            bridge = pgep.status()["bridges"][0]
            assert bridge["restarts"] >= 1 and not bridge["stalled"], bridge
    finally:
        amqp.close()
        proxy.close()


def test_a_rabbitmq_alarm_blocks_publishing_without_blocking_the_worker(blocked_rabbitmq):
    channel = unique("blk")
    amqp = AmqpQueue("amq.topic", f"{channel}-key")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:amq.topic")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            blocked_rabbitmq()
            notify(channel, [f"{channel}-key|during {i}" for i in range(5)])
            pgep.wait_log(r"the broker blocks publishing \(connection.blocked", timeout=30)
            wait_until(lambda: not pgep.status()["ready"], 10, what="pgep to say it is not ready")
            assert pgep.status()["bridges"][0]["pid"] > 0  # the worker answers its supervisor meanwhile
            rabbitmqctl("set_vm_memory_high_watermark", "0.4")
            got = amqp.fetch(5, timeout=60)
            assert {body for _, body, _ in got} == {f"during {i}".encode() for i in range(5)}
            wait_until(lambda: pgep.status()["ready"], 30, what="pgep to be ready again")
    finally:
        amqp.close()


def test_while_the_broker_is_frozen_the_backlog_waits_in_the_ledger_and_the_worker_holds_only_its_window():
    # Issue 13: the supervisor sends a worker at most twice its max_in_flight ahead of its
    # acknowledgements; the rest waits in the ledger only, not in a second copy at the worker.
    channel, proxy, sub, config = redis_behind_a_proxy("win", max_in_flight="5")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, ["k|before"])
            sub.wait(1)
            proxy.freeze(new_too=True)
            notify(channel, [f"k|{i}" for i in range(300)])
            wait_until(lambda: pgep.status()["bridges"][0]["in_flight"] == 300, 15, what="300 events in the ledger")
            # The worker reports what it holds every second.
            wait_until(lambda: pgep.status()["bridges"][0]["at_worker"] == 10, 10,
                       what="the worker to hold 10 events (twice max_in_flight)")
            assert pgep.status()["bridges"][0]["in_flight"] == 300
            proxy.thaw()
            wait_until(lambda: {b for _, b in sub.messages} >= {f"{i}".encode() for i in range(300)}, 60,
                       what="every event once the broker answers again")
            wait_until(lambda: pgep.status()["bridges"][0]["in_flight"] == 0, 30, what="an empty ledger")
    finally:
        sub.close()
        proxy.close()
