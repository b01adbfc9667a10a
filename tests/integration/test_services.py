"""scripts/services: the local servers every other test relies on, checked with real clients."""
import json
import os
import tempfile
import threading

import paho.mqtt.client as mqtt
import pika
import psycopg2
import redis

from conftest import ROOT, run, wait_until

SERVICES = os.path.join(ROOT, "scripts", "services")


def pid_of(path):
    with open(path) as f:
        return f.read().strip()


def test_status_reports_all_four_running(services):
    result = run([SERVICES, "status", services["PGEP_SERVICES_DIR"]])
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("postgres", "rabbitmq", "mosquitto", "redis"):
        assert f"{name}: running" in result.stdout


def test_postgres_decodes_with_wal2json_format_2(services):
    conn = psycopg2.connect(services["PGEP_PG_URI"])
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SHOW wal_level")
    assert cur.fetchone()[0] == "logical"
    cur.execute("CREATE TABLE IF NOT EXISTS services_probe (id int primary key, note text)")
    cur.execute("SELECT pg_create_logical_replication_slot('services_probe', 'wal2json')")
    try:
        cur.execute("INSERT INTO services_probe VALUES (1, 'hello') ON CONFLICT (id) DO UPDATE SET note = 'again'")
        cur.execute("SELECT data FROM pg_logical_slot_get_changes('services_probe', NULL, NULL, "
                    "'format-version', '2', 'include-types', '0')")
        changes = [json.loads(row[0]) for row in cur.fetchall()]
        rows = [c for c in changes if c.get("action") in ("I", "U")]
        assert rows and rows[0]["table"] == "services_probe"
    finally:
        cur.execute("SELECT pg_drop_replication_slot('services_probe')")
        conn.close()


def test_rabbitmq_confirms_and_delivers(services):
    conn = pika.BlockingConnection(pika.URLParameters(services["PGEP_AMQP_URI"]))
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"probe", mandatory=True)
    method, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"probe"
    conn.close()


def test_mosquitto_delivers_qos1(services):
    port = int(services["PGEP_MQTT_URI"].rsplit(":", 1)[1])
    got = threading.Event()
    received = []

    def on_message(client, userdata, message):
        received.append(message.payload)
        got.set()

    sub = mqtt.Client()
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    try:
        sub.subscribe("services/probe", qos=1)
        assert subscribed.wait(10)
        pub = mqtt.Client()
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        pub.publish("services/probe", b"probe", qos=1).wait_for_publish()
        pub.loop_stop()
        assert got.wait(10)
        assert received == [b"probe"]
    finally:
        sub.loop_stop()


def test_redis_publishes_to_a_subscriber(services):
    r = redis.Redis.from_url(services["PGEP_REDIS_URI"])
    p = r.pubsub()
    p.subscribe("services-probe")
    wait_until(lambda: p.get_message(timeout=0.1), what="the subscription")
    assert r.publish("services-probe", "probe") == 1
    message = wait_until(lambda: p.get_message(timeout=0.1), what="the message")
    assert message["data"] == b"probe"


def test_start_is_idempotent(services):
    d = services["PGEP_SERVICES_DIR"]
    before = {n: pid_of(os.path.join(d, n, f)) for n, f in
              (("rabbitmq", "server.pid"), ("mosquitto", "mosquitto.pid"), ("redis", "redis.pid"))}
    result = run([SERVICES, "start", d])
    assert result.returncode == 0, result.stderr
    after = {n: pid_of(os.path.join(d, n, f)) for n, f in
             (("rabbitmq", "server.pid"), ("mosquitto", "mosquitto.pid"), ("redis", "redis.pid"))}
    assert before == after


def test_a_subset_starts_alone_and_stop_stops_only_what_it_started(services):
    with tempfile.TemporaryDirectory(prefix="pgep-svc-") as d:
        env = dict(os.environ, PGEP_PORT_BASE="27000")
        try:
            result = run([SERVICES, "start", d, "redis", "mosquitto"], env=env)
            assert result.returncode == 0, result.stderr
            status = run([SERVICES, "status", d], env=env)
            assert status.returncode == 3
            assert "redis: running" in status.stdout and "postgres: stopped" in status.stdout
            settings = run([SERVICES, "env", d]).stdout
            assert "PGEP_REDIS_URI='redis://127.0.0.1:27379/0'" in settings
            assert redis.Redis(port=27379).ping()
        finally:
            stopped = run([SERVICES, "stop", d], env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert run([SERVICES, "status", d, "redis"]).returncode == 3
        # The suite's own servers were not touched.
        assert redis.Redis.from_url(services["PGEP_REDIS_URI"]).ping()
        assert run([SERVICES, "status", services["PGEP_SERVICES_DIR"]]).returncode == 0
