"""NOTIFY through pgep to RabbitMQ, Mosquitto and Redis, checked at independent consumers."""
import os
import time

import pika

from brokers import AmqpQueue, MqttSubscriber, RedisSubscriber, declare_exchange, unique
from conftest import process_gone, wait_until
from helpers import database, upstream
from pgep_process import PgepProcess


def test_every_upstream_and_target_kind_in_one_pgep(pg):
    channel = unique("events")
    queue = unique("jobs")
    exchange_q = AmqpQueue("amq.topic", f"{channel}.#")
    config = database() + \
        upstream("bus", "amqp", f"{channel}->exchange:amq.topic, {channel}->queue:{queue}", declare="true") + \
        upstream("things", "mqtt", f"{channel}->topic:{channel}") + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    mqtt_sub = MqttSubscriber(f"{channel}/#")
    mqtt_all = MqttSubscriber("#")
    redis_sub = RedisSubscriber(f"{channel}*")
    with PgepProcess(config, bridges=4):
        pg.notify(channel, [f"{channel}.signup|user {i}" for i in range(100)])
        got = exchange_q.fetch(100)
        assert [(k, b) for k, b, _ in got] == [(f"{channel}.signup", f"user {i}".encode()) for i in range(100)]
        props = got[0][2]
        assert props.content_type == "text/plain"
        assert props.app_id == "pgep"
        assert props.delivery_mode == 1
        assert props.headers == {"pg_channel": channel}
        assert props.timestamp and props.message_id
        assert len({p.message_id for _, _, p in got}) == 100

        direct = AmqpQueue(exchange=None, queue=queue, durable=True)
        assert [b for _, b, _ in direct.fetch(100)] == [f"user {i}".encode() for i in range(100)]

        topic = f"{channel}.{channel}.signup"
        assert mqtt_all.wait(100) == [(topic, f"user {i}".encode()) for i in range(100)]
        assert redis_sub.wait(100) == [(topic.encode(), f"user {i}".encode()) for i in range(100)]
    for c in (exchange_q, direct, mqtt_sub, mqtt_all, redis_sub):
        c.close()


def test_routing_keys_and_bodies_byte_for_byte(pg):
    channel = unique("keys")
    fanout = unique("fanout")
    declare_exchange(fanout, "fanout")
    amqp = AmqpQueue(fanout, "")
    payloads = ["a.b|dots", "#|hash", "*|star", "clé.ü|non-ascii", "|empty key", "no key at all",
                "k|body|with|more|bars", "k|", "user.*.#|wild"]
    expected_amqp = [("a.b", b"dots"), ("#", b"hash"), ("*", b"star"), ("clé.ü", "non-ascii".encode()),
                     ("", b"empty key"), ("", b"no key at all"), ("k", b"body|with|more|bars"), ("k", b""),
                     ("user.*.#", b"wild")]
    redis_sub = RedisSubscriber(f"{channel}*")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:{fanout}") + \
        upstream("cache", "redis", f"{channel}->topic:{channel}")
    with PgepProcess(config, bridges=2):
        pg.notify(channel, payloads)
        assert [(k, b) for k, b, _ in amqp.fetch(len(payloads))] == expected_amqp
        got = redis_sub.wait(len(payloads))
        assert got == [((channel + "." + k if k else channel).encode(), b) for k, b in expected_amqp]
    amqp.close()
    redis_sub.close()


def test_mqtt_drops_what_it_cannot_publish_and_goes_on(pg):
    channel = unique("mq")
    sub = MqttSubscriber(f"{channel}/#")
    all_topics = MqttSubscriber("#")
    config = database() + upstream("things", "mqtt", f"{channel}->topic:{channel}")
    with PgepProcess(config, bridges=1) as pgep:
        pg.notify(channel, ["bad#|wildcard in the topic", "ok|after it"])
        assert all_topics.wait(1) == [(f"{channel}.ok", b"after it")]
        pgep.wait_log(r"dropped: .*not an MQTT topic")
    sub.close()
    all_topics.close()


def test_payloads_of_7999_bytes(pg):
    channel = unique("big")
    # PostgreSQL folds identical notifications of one transaction: each body is different.
    bodies = [("é" + "x" * 7988 + f"{i:05d}").encode() for i in range(20)]
    payloads = ["big|" + b.decode() for b in bodies]
    assert all(len(p.encode()) == 7999 for p in payloads)
    amqp = AmqpQueue("amq.topic", "big")
    redis_sub = RedisSubscriber(f"{channel}*")
    mqtt_sub = MqttSubscriber(f"{channel}.big")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:amq.topic") + \
        upstream("cache", "redis", f"{channel}->topic:{channel}") + \
        upstream("things", "mqtt", f"{channel}->topic:{channel}")
    with PgepProcess(config, bridges=3):
        pg.notify(channel, payloads)
        assert [b for _, b, _ in amqp.fetch(20)] == bodies
        assert [b for _, b in redis_sub.wait(20)] == bodies
        assert [b for _, b in mqtt_sub.wait(20)] == bodies
    for c in (amqp, redis_sub, mqtt_sub):
        c.close()


def test_many_channels_including_mixed_case(pg):
    prefix = unique("ch")
    channels = [f"{prefix}_{i}" for i in range(40)] + [f"{prefix}_MixedCase", f"{prefix} with space"]
    # One bridge a line: an INI line holds at most 198 bytes.
    bridges = ",\n    ".join(f"{c}->topic:t{i}" for i, c in enumerate(channels))
    redis_sub = RedisSubscriber("t*")
    with PgepProcess(database() + upstream("cache", "redis", bridges), bridges=len(channels)):
        for i, c in enumerate(channels):
            pg.notify(c, [f"k|{c}"])
        got = redis_sub.wait(len(channels))
        assert sorted(got) == sorted((f"t{i}.k".encode(), c.encode()) for i, c in enumerate(channels))
    redis_sub.close()


def test_seed_format_from_the_environment_alone(pg):
    channel = unique("seed")
    redis_sub = RedisSubscriber(f"{channel}*")
    env = {
        "PGPROXY_LOCAL-POSTGRESQL_URI": os.environ["PGEP_PG_URI"],
        "PGPROXY_LOCAL-UPSTREAM": "redis",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-URI": os.environ["PGEP_REDIS_URI"],
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS": f"{channel}->topic:{channel}",
    }
    with PgepProcess(env=env, bridges=1):
        pg.notify(channel, ["signup|hello"])
        assert redis_sub.wait(1) == [(f"{channel}.signup".encode(), b"hello")]
    redis_sub.close()


def test_a_missing_exchange_is_a_clear_error_until_it_exists(pg):
    channel = unique("late")
    exchange = unique("later")
    # unroutable = error: a message that reaches the new exchange before the test's queue is
    # bound to it is published again rather than dropped.
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:{exchange}", unroutable="error")
    with PgepProcess(config, bridges=None) as pgep:
        pgep.wait_log(rf'exchange "{exchange}": NOT_FOUND.*create it, or set declare = true')
        pg.notify(channel, ["k|sent while the exchange was missing"])
        declare_exchange(exchange, "fanout")
        q = AmqpQueue(exchange, "")
        assert [b for _, b, _ in q.fetch(1, timeout=40)] == [b"sent while the exchange was missing"]
        q.close()


def bridge_to_an_empty_exchange(prefix):
    """(channel, exchange, configuration): a bridge to a direct exchange no queue is bound to."""
    channel = unique(prefix)
    exchange = unique("empty")
    declare_exchange(exchange, "direct")
    return channel, exchange, database() + upstream("bus", "amqp", f"{channel}->exchange:{exchange}")


def test_unroutable_drop_is_logged_and_counted_not_retried(pg):
    channel, exchange, config = bridge_to_an_empty_exchange("nobody")
    with PgepProcess(config, bridges=1) as pgep:
        pg.notify(channel, ["nobody|listens"])
        pgep.wait_log(r'dropped: no queue is bound to exchange "' + exchange + r'" for routing key "nobody"')
        q = AmqpQueue(exchange, "after")
        pg.notify(channel, ["after|this one is routed"])
        assert [b for _, b, _ in q.fetch(1)] == [b"this one is routed"]
        q.close()


def test_unroutable_messages_are_logged_once_a_minute_per_routing_key_and_all_counted(pg):
    channel, _, config = bridge_to_an_empty_exchange("flood")
    with PgepProcess(config, bridges=1) as pgep:
        pg.notify(channel, [f"nobody|{i}" for i in range(500)] + [f"elsewhere|{i}" for i in range(10)])

        def unroutable():
            status = pgep.status()
            return sum(b["unroutable"] for b in status["bridges"])
        wait_until(lambda: unroutable() == 510, 30, what="510 unroutable messages counted")
        assert pgep.count(r'dropped: no queue is bound to exchange "[^"]+" for routing key "nobody"') == 1
        assert pgep.count(r'for routing key "elsewhere"') == 1
        assert pgep.count(r"said at most once a minute per routing key") == 2



def test_refused_messages_are_logged_once_a_minute_per_routing_key_and_all_counted(pg):
    """unroutable = error: 200 messages of one routing key and 5 of another are refused, and
    published again, many times each; one line per routing key says so, the counter has every
    refusal."""
    channel = unique("refusals")
    exchange = unique("refx")
    declare_exchange(exchange, "direct")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:{exchange}", unroutable="error")
    with PgepProcess(config, bridges=1) as pgep:
        pg.notify(channel, [f"nobody|{i}" for i in range(200)] + [f"elsewhere|{i}" for i in range(5)])

        def refused():
            return sum(b["refused"] for b in pgep.status()["bridges"])
        wait_until(lambda: refused() >= 3 * 205, 30, what="every message refused three times")
        assert pgep.count(r'refused by the broker: no queue is bound to exchange "[^"]+" for routing key "nobody"') == 1
        assert pgep.count(r'for routing key "elsewhere"') == 1
        assert pgep.count(r"refused") == 2, pgep.log_text()

def test_sigterm_stops_cleanly_with_no_worker_left(pg):
    channel = unique("stop")
    pgep = PgepProcess(database() + upstream("cache", "redis", f"{channel}->topic:x"), bridges=1).start()
    workers = pgep.worker_pids()
    assert len(workers) == 1
    assert pgep.stop() == 0
    assert all(process_gone(pid) for pid in workers)


def test_credentials_vhost_and_percent_decoding_for_every_broker(pg):
    channel = unique("cred")
    queue = unique("credq")
    auth_port = os.environ["PGEP_MQTT_AUTH_PORT"]
    user, password = os.environ["PGEP_MQTT_AUTH_USER"], os.environ["PGEP_MQTT_AUTH_PASS"]
    redis_sub = RedisSubscriber(f"{channel}*")
    mqtt_sub = MqttSubscriber(f"{channel}/#")
    mqtt_all = MqttSubscriber("#")
    config = database() + \
        upstream("odd", "amqp", f"{channel}->queue:{queue}", uri=os.environ["PGEP_AMQP_ODD_URI"], declare="true") + \
        upstream("acl", "redis", f"{channel}->topic:{channel}", uri=os.environ["PGEP_REDIS_ACL_URI"]) + \
        upstream("inuri", "mqtt", f"{channel}->topic:{channel}.uri",
                 uri=f"mqtt://{user}:{password}@127.0.0.1:{auth_port}") + \
        upstream("inoptions", "mqtt", f"{channel}->topic:{channel}.options",
                 uri=f"tcp://127.0.0.1:{auth_port}", username=user, password=password)
    with PgepProcess(config, bridges=4):
        pg.notify(channel, ["k|secret handshake"])
        consumer = pika.BlockingConnection(pika.URLParameters(os.environ["PGEP_AMQP_ODD_URI"])).channel()

        def fetched():
            method, _, body = consumer.basic_get(queue, auto_ack=True)
            return body
        assert wait_until(fetched, 30, what="the message in vhost /pgep") == b"secret handshake"
        assert redis_sub.wait(1) == [(f"{channel}.k".encode(), b"secret handshake")]
        got = sorted(t for t, _ in mqtt_all.wait(2))
        assert got == [f"{channel}.options.k", f"{channel}.uri.k"]
    for c in (redis_sub, mqtt_sub, mqtt_all):
        c.close()


def test_wrong_credentials_are_clear_errors(pg):
    channel = unique("wrong")
    auth_port = os.environ["PGEP_MQTT_AUTH_PORT"]
    redis_port = os.environ["PGEP_REDIS_PORT"]
    amqp_port = os.environ["PGEP_AMQP_PORT"]
    config = database() + \
        upstream("bus", "amqp", f"{channel}->exchange:amq.topic", uri=f"amqp://pgep:nope@127.0.0.1:{amqp_port}/") + \
        upstream("acl", "redis", f"{channel}->topic:x", uri=f"redis://pgep:nope@127.0.0.1:{redis_port}") + \
        upstream("things", "mqtt", f"{channel}->topic:x", uri=f"mqtt://pgep:nope@127.0.0.1:{auth_port}")
    with PgepProcess(config, bridges=None) as pgep:
        pgep.wait_log(r'login to vhost "/" as "pgep": ACCESS_REFUSED')
        pgep.wait_log(r"Redis refused the login or database: WRONGPASS")
        pgep.wait_log(r"things/.*broker unreachable: connect failed: the broker refused: not authorized")
        assert "nope" not in pgep.log_text()


def test_mqtt_over_websocket(pg):
    # ws:// is paho's (libmosquitto's client speaks no WebSocket); mqtt:// is libmosquitto's.
    channel = unique("ws")
    sub = MqttSubscriber("#")
    config = database() + \
        upstream("web", "mqtt", f"{channel}->topic:{channel}.ws", uri=os.environ["PGEP_MQTT_WS_URI"]) + \
        upstream("plain", "mqtt", f"{channel}->topic:{channel}.tcp")
    with PgepProcess(config, bridges=2):
        pg.notify(channel, [f"k|{i}" for i in range(100)])
        got = sub.wait(200)
    by_topic = {}
    for topic, body in got:
        by_topic.setdefault(topic, []).append(body.decode())
    assert by_topic == {f"{channel}.ws.k": [str(i) for i in range(100)],
                        f"{channel}.tcp.k": [str(i) for i in range(100)]}
    sub.close()


def test_mqtt_qos_0_1_and_2(pg):
    channel = unique("qos")
    sub = MqttSubscriber("#", qos=2)
    config = database() + "".join(
        upstream(f"q{q}", "mqtt", f"{channel}->topic:{channel}.q{q}", qos=str(q)) for q in (0, 1, 2))
    with PgepProcess(config, bridges=3):
        pg.notify(channel, [f"k|{i}" for i in range(50)])
        got = sub.wait(150)
        for q in (0, 1, 2):
            assert [b for t, b in got if t == f"{channel}.q{q}.k"] == [str(i).encode() for i in range(50)]
    sub.close()


def test_amqp_heartbeats_keep_an_idle_connection(pg):
    channel = unique("beat")
    amqp = AmqpQueue("amq.topic", f"{channel}.#")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:amq.topic", heartbeat="1s")
    with PgepProcess(config, bridges=1) as pgep:
        # RabbitMQ closes a connection that misses two heartbeats. What is tested is that
        # nothing happens for four intervals, so this wait is the property, not a sync.
        start = len(pgep.log_text())
        time.sleep(4)
        assert "broker lost" not in pgep.log_text()[start:]
        pg.notify(channel, [f"{channel}.k|after idling"])
        assert [b for _, b, _ in amqp.fetch(1)] == [b"after idling"]
        assert "broker lost" not in pgep.log_text()
    amqp.close()


def test_a_refusal_holds_only_the_refused_message(pg):
    """unroutable = error, one message no queue takes among 500 that a queue takes: the refused
    one is published again alone; each routable one arrives exactly once."""
    channel = unique("refuse")
    exchange = unique("refx")
    declare_exchange(exchange, "direct")
    q = AmqpQueue(exchange, "ok")
    config = database() + upstream("bus", "amqp", f"{channel}->exchange:{exchange}", unroutable="error")
    with PgepProcess(config, bridges=1) as pgep:
        payloads = [f"ok|{i}" for i in range(250)] + ["nowhere|refused"] + [f"ok|{i}" for i in range(250, 500)]
        pg.notify(channel, payloads, per_transaction=500)
        q.fetch(500, timeout=60)
        pgep.wait_log(r"refused by the broker: no queue is bound")
        # Watched while the refused message is published again (100 ms, 200 ms, ...): no copies.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            q.fetch(0)
            time.sleep(0.1)
        bodies = sorted(int(b) for _, b, _ in q.messages)
        assert bodies == list(range(500)), f"{len(bodies) - len(set(bodies))} routable message(s) arrived again"
    q.close()
