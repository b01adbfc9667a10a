"""Independent consumers written by others (pika, paho-mqtt, redis-py) that record what pgep
delivered, and a PostgreSQL client that sends notifications."""
import os
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pika
import psycopg2
import redis

from conftest import wait_until


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


class Postgres:
    def __init__(self):
        self.conn = psycopg2.connect(os.environ["PGEP_PG_URI"])
        self.conn.autocommit = True

    def notify(self, channel, payloads, per_transaction=100):
        """Sends every payload as a NOTIFY, many per transaction (the producer is the limit)."""
        cur = self.conn.cursor()
        payloads = list(payloads)
        for start in range(0, len(payloads), per_transaction):
            batch = payloads[start:start + per_transaction]
            cur.execute("BEGIN")
            cur.executemany("SELECT pg_notify(%s, %s)", [(channel, p) for p in batch])
            cur.execute("COMMIT")

    def close(self):
        self.conn.close()


def notify(channel, payloads):
    """NOTIFY each payload on `channel` from a session of its own."""
    pg = Postgres()
    try:
        pg.notify(channel, payloads)
    finally:
        pg.close()


def declare_exchange(name, kind):
    conn = pika.BlockingConnection(pika.URLParameters(os.environ["PGEP_AMQP_URI"]))
    try:
        conn.channel().exchange_declare(name, kind)
    finally:
        conn.close()


class AmqpQueue:
    """A queue of its own bound to `exchange`, recording (routing key, body, properties)."""

    def __init__(self, exchange="amq.topic", binding="#", queue=None, durable=False):
        self.conn = pika.BlockingConnection(pika.URLParameters(os.environ["PGEP_AMQP_URI"]))
        self.channel = self.conn.channel()
        if queue is None:
            self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        else:
            self.queue = queue
            self.channel.queue_declare(queue, durable=durable)
        if exchange:
            self.channel.queue_bind(self.queue, exchange, binding)
        self.messages = []

    def drain(self, until, timeout=60):
        """Consumes until until(messages) is true."""
        deadline = time.monotonic() + timeout
        for method, props, body in self.channel.consume(self.queue, auto_ack=True, inactivity_timeout=0.2):
            if method is not None:
                self.messages.append((method.routing_key, body, props))
            if until(self.messages) or time.monotonic() > deadline:
                break
        self.channel.cancel()
        return self.messages

    def fetch(self, count, timeout=30):
        def more():
            while True:
                method, props, body = self.channel.basic_get(self.queue, auto_ack=True)
                if method is None:
                    break
                self.messages.append((method.routing_key, body, props))
            return len(self.messages) >= count
        wait_until(more, timeout, what=lambda: f"{count} AMQP message(s) in {self.queue} (have {len(self.messages)})")
        return self.messages

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


class MqttSubscriber:
    """With persistent=True its session (and the QoS 1 messages queued for it) survives a
    restart of Mosquitto, which the services script runs with persistence on."""

    def __init__(self, topic="#", qos=1, persistent=False):
        self.messages = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client_id, self.persistent = unique("sub"), persistent
        self.client = mqtt.Client(client_id=self.client_id, clean_session=not persistent)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, u, f, rc: c.subscribe(topic, qos)
        self.client.reconnect_delay_set(0.02, 0.1)
        self.client.connect("127.0.0.1", int(os.environ["PGEP_MQTT_PORT"]))
        self.client.loop_start()
        assert self.subscribed.wait(10), "MQTT subscription not acknowledged"

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload))

    def wait(self, count, timeout=30):
        wait_until(lambda: len(self.messages) >= count, timeout,
                   what=lambda: f"{count} MQTT message(s) (have {len(self.messages)})")
        with self.lock:
            return list(self.messages)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()
        if self.persistent:
            # The session outlives the connection and would queue every later message of the
            # run: a clean connection with the same id ends it.
            ending = mqtt.Client(client_id=self.client_id, clean_session=True)
            ending.connect("127.0.0.1", int(os.environ["PGEP_MQTT_PORT"]))
            ending.disconnect()


class RedisSubscriber:
    """Subscribed to every channel matching `pattern`; reconnects by itself (to self.url, which
    a test may change) if Redis restarts."""

    def __init__(self, pattern="*", url=None):
        self.pattern = pattern
        self.url = url or os.environ["PGEP_REDIS_URI"]
        self.messages = []
        self.stop_flag = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.connected.wait(10), "Redis subscription not made"

    def _run(self):
        while not self.stop_flag.is_set():
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=1)
                pubsub = client.pubsub()
                pubsub.psubscribe(self.pattern)
                while not self.stop_flag.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        self.connected.set()
                    elif message["type"] == "pmessage":
                        self.messages.append((message["channel"], message["data"]))
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self.connected.clear()
                time.sleep(0.02)

    def wait(self, count, timeout=30):
        wait_until(lambda: len(self.messages) >= count, timeout,
                   what=lambda: f"{count} Redis message(s) (have {len(self.messages)})")
        return list(self.messages)

    def close(self):
        self.stop_flag.set()
        self.thread.join(5)
