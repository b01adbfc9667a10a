"""scripts/soak's consumers: what RabbitMQ, Mosquitto and Redis delivered, recorded per stream
(rows, durable messages, NOTIFYs) with every repeated receipt's time."""
import json
import os
import threading
import time

import paho.mqtt.client as mqtt
import pika
import redis


class Received:
    """What one broker delivered: for each stream ("rows", "durable", "notify") the count of
    receipts of each item, and the time of each receipt (for duplicates per fault)."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.counts = {"rows": {}, "durable": {}, "notify": {}}
        self.times = []

    def add(self, stream, item):
        with self.lock:
            self.counts[stream][item] = self.counts[stream].get(item, 0) + 1
            if self.counts[stream][item] > 1:
                self.times.append(time.monotonic())

    def items(self, stream):
        with self.lock:
            return dict(self.counts[stream])


def classify(run, topic_or_key, body, received):
    """Routes one received message to its stream by its key or topic and its body."""
    if topic_or_key.endswith(f"{run.table}.insert"):
        record = json.loads(body)
        row = next(c["value"] for c in record["columns"] if c["name"] == "id")
        received.add("rows", row)
    elif body.startswith(b"d-"):
        received.add("durable", body.decode())
    elif body.startswith(b"n-"):
        received.add("notify", body.decode())


class AmqpConsumer(threading.Thread):
    """Durable queues bound on amq.topic; reconnects after a RabbitMQ restart; acknowledges
    after recording, so a message is never lost on this side."""

    def __init__(self, run):
        super().__init__(daemon=True)
        self.run_, self.received, self.stop = run, Received("rabbitmq"), threading.Event()
        self.queues = {f"soak-{run.id}-rows": f"public.{run.table}.insert",
                       f"soak-{run.id}-events": f"{run.key}"}
        self.ready = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                conn = pika.BlockingConnection(pika.URLParameters(os.environ["PGEP_AMQP_URI"]))
                channel = conn.channel()
                for queue, key in self.queues.items():
                    channel.queue_declare(queue, durable=True)
                    channel.queue_bind(queue, "amq.topic", key)
                self.ready.set()
                channel.basic_qos(prefetch_count=1000)
                for queue in self.queues:
                    channel.basic_consume(queue, self.on_message)
                while not self.stop.is_set():
                    conn.process_data_events(time_limit=0.2)
                conn.close()
            except Exception:  # a broker restart, a reset connection: connect again
                time.sleep(0.5)

    def on_message(self, channel, method, properties, body):
        classify(self.run_, method.routing_key, body, self.received)
        channel.basic_ack(method.delivery_tag)

    def delete_queues(self):
        try:
            conn = pika.BlockingConnection(pika.URLParameters(os.environ["PGEP_AMQP_URI"]))
            channel = conn.channel()
            for queue in self.queues:
                channel.queue_delete(queue)
            conn.close()
        except Exception:
            pass


class MqttConsumer:
    """A persistent session (clean_session false) at QoS 1: Mosquitto keeps what arrives while
    it reconnects, across Mosquitto's restarts too (persistence is on)."""

    def __init__(self, run):
        self.run, self.received = run, Received("mosquitto")
        self.subscribed = threading.Event()
        self.client = mqtt.Client(client_id=f"soak-{run.id}", clean_session=False)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe(f"soak{run.id}/#", 1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: classify(run, m.topic, m.payload, self.received)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", int(os.environ["PGEP_MQTT_PORT"]))
        self.client.loop_start()

    def close(self):
        # Ends the persistent session, so that Mosquitto keeps nothing more for it.
        self.client.loop_stop()
        self.client.disconnect()
        ending = mqtt.Client(client_id=f"soak-{self.run.id}", clean_session=True)
        ending.connect("127.0.0.1", int(os.environ["PGEP_MQTT_PORT"]))
        ending.disconnect()


class RedisConsumer(threading.Thread):
    """A pattern subscription with no socket timeout, so that it stays subscribed while Redis
    is frozen (a timeout would make it resubscribe after pgep's backlog was published)."""

    def __init__(self, run):
        super().__init__(daemon=True)
        self.run_, self.received, self.stop = run, Received("redis"), threading.Event()
        self.ready = threading.Event()
        self.disconnects = 0

    def run(self):
        while not self.stop.is_set():
            try:
                client = redis.Redis.from_url(os.environ["PGEP_REDIS_URI"])
                pubsub = client.pubsub()
                pubsub.psubscribe(f"soak{self.run_.id}*")
                while not self.stop.is_set():
                    message = pubsub.get_message(timeout=0.2)
                    if message and message["type"] == "psubscribe":
                        self.ready.set()
                    elif message and message["type"] == "pmessage":
                        classify(self.run_, message["channel"].decode(), message["data"], self.received)
            except (redis.ConnectionError, OSError):
                self.disconnects += 1
                time.sleep(0.1)


