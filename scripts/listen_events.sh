#!/usr/bin/env bash
# Prints every message that reaches RabbitMQ (amq.topic, all keys), Mosquitto (all topics) and
# Redis (all channels), one line each: "[broker] routing key or topic: body". Connection
# settings come from scripts/services env. The seed's listen_events.sh, for all three brokers.
#   scripts/listen_events.sh [SECONDS]      stop after SECONDS (default: run until interrupted)
set -euo pipefail
exec /usr/bin/python3 - "${1:-0}" <<'PY'
import os, sys, threading, time
import paho.mqtt.client as mqtt
import pika
import redis

limit = float(sys.argv[1])
lock = threading.Lock()

def show(broker, key, body):
    with lock:
        print(f"[{broker}] {key}: {body.decode('utf-8', 'replace')[:160]}", flush=True)

def rabbitmq():
    conn = pika.BlockingConnection(pika.URLParameters(os.environ["PGEP_AMQP_URI"]))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.topic", "#")
    for method, props, body in ch.consume(q, auto_ack=True, inactivity_timeout=0.5):
        if method:
            show("rabbitmq", method.routing_key, body)

def mosquitto():
    client = mqtt.Client()
    client.on_connect = lambda c, u, f, rc: c.subscribe("#", 1)
    client.on_message = lambda c, u, m: show("mosquitto", m.topic, m.payload)
    client.connect("127.0.0.1", int(os.environ["PGEP_MQTT_PORT"]))
    client.loop_forever()

def redis_pubsub():
    p = redis.Redis.from_url(os.environ["PGEP_REDIS_URI"]).pubsub()
    p.psubscribe("*")
    for m in p.listen():
        if m["type"] == "pmessage":
            show("redis", m["channel"].decode(), m["data"])

for target in (rabbitmq, mosquitto, redis_pubsub):
    threading.Thread(target=target, daemon=True).start()
print("listen_events: listening on RabbitMQ, Mosquitto and Redis", flush=True)
start = time.time()
while not limit or time.time() - start < limit:
    time.sleep(0.2)
PY
