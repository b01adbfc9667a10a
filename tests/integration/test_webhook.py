"""Webhooks (issue 14): every event POSTed to the upstream's uri plus the bridge's path, with
pgep's headers and an HMAC signature; 2xx confirms, 408/429/5xx and no answer are retried,
another 4xx is the event's refusal (a dead letter after dead_letter_after). Against a local
HTTP(S) server written with Python's http.server (webhook_server.py)."""
import hashlib
import hmac
import json
import os
import signal
import socket

from brokers import notify, unique
from conftest import wait_until
from helpers import database, upstream
from pgep_process import PgepProcess
from webhook_server import WebhookServer


def test_each_event_is_posted_with_its_headers_and_a_signature_a_receiver_can_check():
    channel = unique("hook")
    server = WebhookServer()
    config = database() + upstream(
        "hooks", "webhook", f"{channel}->path:/signup, {channel}->path:", uri=server.uri + "/base",
        secret="s3cret", headers="X-Source: pgep; Authorization: Bearer abc")
    try:
        with PgepProcess(config, bridges=2) as pgep:
            notify(channel, [f"user.{i}|{{\"n\": {i}}}" for i in range(20)])
            requests = server.wait(40)
            assert "s3cret" not in pgep.log_text() and "Bearer abc" not in pgep.log_text()
        by_path = {}
        for path, headers, body in requests:
            by_path.setdefault(path, []).append((headers, body))
        assert sorted(by_path) == ["/base", "/base/signup"]
        for path, got in by_path.items():
            assert sorted(body for _, body in got) == sorted(f"{{\"n\": {i}}}".encode() for i in range(20)), path
            ids = {headers["X-Pgep-Id"] for headers, _ in got}
            assert len(ids) == 20
            for headers, body in got:
                assert headers["Content-Type"] == "application/json"
                assert headers["X-Pgep-Channel"] == channel
                assert headers["X-Pgep-Routing-Key"] == "user." + body.decode().split(": ")[1].rstrip("}")
                assert headers["X-Source"] == "pgep" and headers["Authorization"] == "Bearer abc"
                # What a receiver does (README): recompute the HMAC over "timestamp.body".
                signed = headers["X-Pgep-Timestamp"].encode() + b"." + body
                expected = "sha256=" + hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
                assert hmac.compare_digest(headers["X-Pgep-Signature"], expected)
    finally:
        server.close()


def test_5xx_429_a_hang_and_a_closed_connection_are_retried_and_nothing_is_lost():
    channel = unique("hookretry")
    server = WebhookServer()
    server.answer(503, (429, {"Retry-After": "1"}), "close", ("hang", 4), 500)
    config = database() + upstream("hooks", "webhook", f"{channel}->path:/in", uri=server.uri, timeout="2s",
                                   max_in_flight="1")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, [f"k|event {i}" for i in range(10)])
            server.wait_bodies([f"event {i}" for i in range(10)], 90, what="every event after the failures")
            pgep.wait_log(r"answered 503")
            pgep.wait_log(r"answered 429 \(Retry-After: 1\)")
            pgep.wait_log(r"no answer from http://127\.0\.0\.1:\d+/in: .*(timed out|Timeout)")
    finally:
        server.close()


def test_a_retry_after_is_waited_for_before_the_next_attempt():
    channel = unique("hookwait")
    server = WebhookServer()
    server.answer((429, {"Retry-After": "3"}))
    config = database() + upstream("hooks", "webhook", f"{channel}->path:/in", uri=server.uri, max_in_flight="1")
    try:
        with PgepProcess(config, bridges=1):
            notify(channel, ["k|patience"])
            server.wait(2, timeout=30)  # the 429, then the same event again
            # The worker's own backoff would have tried again after 0.1 s.
            assert server.arrivals[1] - server.arrivals[0] >= 2.9, server.arrivals
            assert [b for _, _, b in server.requests] == [b"patience", b"patience"]
    finally:
        server.close()


def test_a_4xx_refuses_the_event_and_it_becomes_a_dead_letter_while_the_others_arrive():
    channel = unique("hook4xx")
    server = WebhookServer()
    server.answer(422, 422)
    config = database() + upstream("hooks", "webhook", f"{channel}->path:/in", uri=server.uri,
                                   max_in_flight="1", dead_letter_after="1")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, [f"k|event {i}" for i in range(5)])
            pgep.wait_log(r"refused it with status 422")
            pgep.wait_log(r"giving up on it \(dead letter\)", timeout=30)
            server.wait_bodies([f"event {i}" for i in range(1, 5)], 30, what="the events after the refused one")
    finally:
        server.close()


def test_a_server_that_is_down_at_first_gets_every_event_once_it_listens():
    channel = unique("hookdown")
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nothing listens there until the server starts
    config = database() + upstream("hooks", "webhook", f"{channel}->path:", uri=f"http://127.0.0.1:{port}")
    with PgepProcess(config, bridges=1) as pgep:
        notify(channel, [f"k|early {i}" for i in range(5)])
        pgep.wait_log(r"no answer from http://127\.0\.0\.1:\d+: .*Couldn't connect")
        server = WebhookServer(port=port)
        try:
            server.wait_bodies([f"early {i}" for i in range(5)], 60, what="the events held while the server was down")
        finally:
            server.close()


def test_https_with_the_test_ca_and_an_unknown_ca_is_a_clear_error():
    channel = unique("hooktls")
    server = WebhookServer(tls=True)
    config = database() + \
        upstream("good", "webhook", f"{channel}->path:/ok", uri=server.uri, tls_ca_file=os.environ["PGEP_TLS_CA"]) + \
        upstream("bad", "webhook", f"{channel}->path:/never", uri=server.uri)
    try:
        with PgepProcess(config, bridges=2) as pgep:
            notify(channel, ["k|over TLS"])
            got = server.wait(1)
            assert [(p, b) for p, _, b in got] == [("/ok", b"over TLS")]
            pgep.wait_log(r"bad/.*no answer from https://localhost:\d+/never: .*(certificate|SSL)")
    finally:
        server.close()


def test_kill_9_of_the_worker_mid_window_loses_nothing():
    channel = unique("hookkill")
    server = WebhookServer()
    server.answer(*[("hang", 0.05)] * 300)  # 10 in flight, 200 a second: the kill lands mid-stream
    config = database() + upstream("hooks", "webhook", f"{channel}->path:/in", uri=server.uri, max_in_flight="10")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, [f"k|event {i}" for i in range(300)])
            assert len(server.wait(50)) < 300
            for pid in pgep.worker_pids():
                os.kill(pid, signal.SIGKILL)
            server.wait_bodies([f"event {i}" for i in range(300)], 60, what="every event after the worker was killed")
            pgep.wait_log(r"(restarting|started) worker|exited|killed", timeout=10)
    finally:
        server.close()


def test_batch_sends_up_to_n_events_per_request_as_a_json_array():
    channel = unique("hookbatch")
    server = WebhookServer()
    config = database() + upstream("hooks", "webhook", f"{channel}->path:/many", uri=server.uri, batch="5",
                                   secret="k")
    try:
        with PgepProcess(config, bridges=1):
            payloads = [f"key.{i}|{{\"n\": {i}}}" for i in range(30)] + ["plain|not json"]
            notify(channel, payloads)
            wait_until(lambda: sum(int(h["X-Pgep-Count"]) for _, h, _ in server.requests) >= 31, 30,
                       what="31 events in batches")
        events = []
        for path, headers, body in server.requests:
            batch = json.loads(body)
            assert path == "/many" and headers["Content-Type"] == "application/json"
            assert 1 <= len(batch) <= 5 and len(batch) == int(headers["X-Pgep-Count"])
            signed = headers["X-Pgep-Timestamp"].encode() + b"." + body
            assert headers["X-Pgep-Signature"] == "sha256=" + hmac.new(b"k", signed, hashlib.sha256).hexdigest()
            events += batch
        assert any(int(h["X-Pgep-Count"]) > 1 for _, h, _ in server.requests)
        assert len({e["id"] for e in events}) == 31
        assert sorted(e["body"]["n"] for e in events if isinstance(e["body"], dict)) == list(range(30))
        plain = [e for e in events if e["routing_key"] == "plain"]
        assert plain == [{"id": plain[0]["id"], "channel": channel, "routing_key": "plain", "body": "not json"}]
    finally:
        server.close()
