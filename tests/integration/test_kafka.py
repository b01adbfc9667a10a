"""Kafka (issue 15): `kind = kafka`, `topic:NAME`, the routing key as the message's key, headers
pgep-id and pgep-channel, an idempotent producer whose delivery report acknowledges. Debian
packages no Kafka broker: these tests run against librdkafka's own mock cluster (kafka_mock.py),
the real Kafka protocol on loopback, with its fault injection."""
import os
import signal
from collections import defaultdict

from brokers import notify, unique
from conftest import wait_until
from helpers import database, upstream
from kafka_gateway import KafkaGateway
from kafka_mock import PRODUCE, KafkaMock, KafkaReader
from pgep_process import PgepProcess
from test_faults import Producer

NOT_LEADER_FOR_PARTITION = 6


def kafka(mock, name, bridges, **options):
    return upstream(name, "kafka", bridges, uri=mock.uri, **options)


def numbers_by_key(messages):
    """{key: [n, ...]} in the order read, from bodies "n"; a partition keeps its keys' order."""
    by_key = defaultdict(list)
    for m in messages:
        by_key[m.key()].append(int(m.value()))
    return by_key


def assert_every_key_in_order(messages, count):
    by_key = numbers_by_key(messages)
    assert sorted(n for ns in by_key.values() for n in set(ns)) == list(range(count))
    for key, ns in by_key.items():
        firsts = list(dict.fromkeys(ns))  # a duplicate may come again later; the first sightings keep order
        assert firsts == sorted(firsts), f"key {key}: out of order"


def test_each_event_with_its_key_and_headers_in_order_per_key():
    mock = KafkaMock()
    channel = unique("kafka")
    mock.topic("events")
    mock.topic("byid", 1)
    config = database() + kafka(mock, "log", f"{channel}->topic:events") + \
        kafka(mock, "ids", f"{channel}->topic:byid", key="id")
    reader, by_id = KafkaReader(mock, "events"), KafkaReader(mock, "byid", 1)
    try:
        with PgepProcess(config, bridges=2):
            notify(channel, [f"k{i % 7}|{i}" for i in range(300)] + ["|keyless"])
            got = reader.read(301)
            keyed = by_id.read(301)
        assert len(got) == 301  # nothing twice without a fault
        headers = [dict(m.headers()) for m in got]
        assert {h["pgep-channel"] for h in headers} == {channel.encode()}
        assert len({h["pgep-id"] for h in headers}) == 301
        keyless = [m for m in got if m.value() == b"keyless"]
        assert keyless[0].key() is None
        assert_every_key_in_order([m for m in got if m.value() != b"keyless"], 300)
        for m in keyed:
            assert m.key() == dict(m.headers())["pgep-id"]
    finally:
        reader.close()
        by_id.close()
        mock.close()


def faulty_run(fault, count=2000):
    mock = KafkaMock()
    channel = unique("kfault")
    mock.topic("flow")
    reader = KafkaReader(mock, "flow")
    try:
        with PgepProcess(database() + kafka(mock, "log", f"{channel}->topic:flow", timeout="5s"), bridges=1) as pgep:
            flow = Producer(channel, count, batch=20, pause=0.01, keys=5)
            flow.start()
            wait_until(lambda: flow.sent >= count // 4, 30, what="a quarter of the events")
            fault(mock, pgep)
            flow.finish(60)
            got = reader.read(count, timeout=120)
        assert_every_key_in_order(got, count)
        return got
    finally:
        reader.close()
        mock.close()


def test_produce_errors_and_a_leader_change_are_retried_without_duplicates():
    def fault(mock, pgep):
        mock.errors(PRODUCE, NOT_LEADER_FOR_PARTITION, 5)
        mock.command("leader flow 0 2")
        mock.command("leader flow 1 3")
    got = faulty_run(fault)
    assert len(got) == 2000, f"{len(got) - 2000} duplicates despite the idempotent producer"


def test_every_broker_down_past_the_delivery_timeout_then_up_loses_nothing():
    def fault(mock, pgep):
        for broker in (1, 2, 3):
            mock.command(f"down {broker}")
        pgep.wait_log(r"broker lost: delivery failed", timeout=30)
        for broker in (1, 2, 3):
            mock.command(f"up {broker}")
    faulty_run(fault)


def test_kill_9_of_the_worker_mid_window_loses_nothing():
    def fault(mock, pgep):
        for pid in pgep.worker_pids():
            os.kill(pid, signal.SIGKILL)
    faulty_run(fault)


def test_tls_and_sasl_properties_reach_librdkafka():
    """`properties` turn on SASL_SSL: through kafka_gateway.py (TLS with the test CA, SASL/PLAIN)
    every event arrives after a login; a wrong password, or a certificate from a CA the
    properties do not name, is a clear error at once, even on an idle bridge."""
    mock = KafkaMock()
    mock.topic("secure")
    gateway = KafkaGateway(mock, "pgep", "kafka-s3cret")
    reader = KafkaReader(mock, "secure")

    def secured(channel, password, ca=os.environ["PGEP_TLS_CA"]):
        properties = (f"security.protocol=SASL_SSL; sasl.mechanisms=PLAIN; sasl.username=pgep; "
                      f"sasl.password={password}" + (f"; ssl.ca.location={ca}" if ca else ""))
        return database() + upstream("log", "kafka", f"{channel}->topic:secure", uri=gateway.uri,
                                     properties=properties)
    try:
        # Refused: never said to be connected, only unreachable, with librdkafka's reason.
        with PgepProcess(secured(unique("kwrong"), "wrong-password"), bridges=0) as pgep:
            pgep.wait_log(r"log/.*broker unreachable: .*SASL authentication error: Invalid username or password")
            assert "wrong-password" not in pgep.log_text() and "broker connected" not in pgep.log_text()
        with PgepProcess(secured(unique("knoca"), "kafka-s3cret", ca=None), bridges=0) as pgep:
            pgep.wait_log(r"log/.*broker unreachable: .*SSL handshake failed: .*certificate verify failed")
            assert "broker connected" not in pgep.log_text()
        assert gateway.logins == 0 and gateway.refused > 0
        channel = unique("ksecure")
        with PgepProcess(secured(channel, "kafka-s3cret"), bridges=1) as pgep:
            notify(channel, [f"k{i % 3}|{i}" for i in range(50)])
            assert_every_key_in_order(reader.read(50), 50)
            assert "kafka-s3cret" not in pgep.log_text()
        assert gateway.logins > 0 and gateway.unauthenticated == 0
    finally:
        reader.close()
        gateway.close()
        mock.close()


def test_a_cluster_down_at_start_is_unreachable_until_it_answers_and_then_gets_everything():
    mock = KafkaMock()
    mock.topic("late")
    reader = KafkaReader(mock, "late")
    channel = unique("klate")
    try:
        for broker in (1, 2, 3):
            mock.command(f"down {broker}")
        with PgepProcess(database() + kafka(mock, "log", f"{channel}->topic:late", timeout="2s"), bridges=0) as pgep:
            pgep.wait_log(r"log/.*broker unreachable: no broker answered within 2 s")
            assert "broker connected" not in pgep.log_text()
            notify(channel, [f"k|{i}" for i in range(20)])  # they wait in the ledger
            for broker in (1, 2, 3):
                mock.command(f"up {broker}")
            pgep.wait_log(r"log/.*broker connected", timeout=60)
            assert sorted(int(m.value()) for m in reader.read(20)) == list(range(20))
    finally:
        reader.close()
        mock.close()
