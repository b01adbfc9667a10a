"""The AWS kinds (issue 14): awssns, awssqs and awslambda, signed with SigV4, against a local
HTTPS endpoint that checks every request with botocore (aws_endpoint.py): its signature, and its
parameters against botocore's service model. No AWS server is packaged for Debian."""
import json
import os
import signal
import socket
from collections import Counter

import pytest

from aws_endpoint import AwsEndpoint
from brokers import notify, unique
from conftest import wait_until
from helpers import database, upstream
from pgep_process import PgepProcess
from test_reload import reload_with

TOPIC = "arn:aws:sns:eu-west-1:123456789012:events"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:on-event"
TARGETS = {"awssns": f"topic:{TOPIC}", "awssqs": f"queue:{QUEUE}", "awslambda": f"function:{FUNCTION}"}


def aws(name, kind, bridges, endpoint, **options):
    """An AWS upstream for `endpoint`, with its credentials unless the options say otherwise."""
    credentials = {"region": endpoint.region, "access_key_id": endpoint.access_key,
                   "secret_access_key": endpoint.secret, "session_token": endpoint.token,
                   "tls_ca_file": os.environ["PGEP_TLS_CA"]}
    return upstream(name, kind, bridges, uri=endpoint.uri, **{**credentials, **options})


def test_sns_publish_and_publish_batch_with_credentials_from_the_environment(tmp_path):
    channel = unique("sns")
    endpoint = AwsEndpoint()
    secret_file = tmp_path / "aws_secret"
    secret_file.write_text(endpoint.secret + "\n")
    env = {"AWS_REGION": endpoint.region, "AWS_ACCESS_KEY_ID": endpoint.access_key,
           "AWS_SECRET_ACCESS_KEY_FILE": str(secret_file), "AWS_SESSION_TOKEN": endpoint.token}
    config = database() + upstream("sns", "awssns", f"{channel}->topic:{TOPIC}", uri=endpoint.uri,
                                   tls_ca_file=os.environ["PGEP_TLS_CA"])
    try:
        with PgepProcess(config, env=env, bridges=1) as pgep:
            notify(channel, ["first|alone"])
            endpoint.wait_bodies(["alone"], what="the first event")
            notify(channel, [f"user.{i}|{{\"n\": {i}}}" for i in range(25)] + ["|no key"])
            messages = endpoint.wait_bodies([f"{{\"n\": {i}}}" for i in range(25)] + ["no key"])
            assert endpoint.secret not in pgep.log_text() and endpoint.token not in pgep.log_text()
        assert endpoint.problems == []
        assert len(messages) == 27
        assert {m["target"] for m in messages} == {TOPIC}
        assert len({m["attributes"]["pgep-id"] for m in messages}) == 27
        assert {m["attributes"]["pgep-channel"] for m in messages} == {channel}
        for m in messages:
            key = m["attributes"].get("pgep-routing-key")
            if m["body"] == "no key":
                assert key is None
            elif m["body"] != "alone":
                assert key == "user." + str(json.loads(m["body"])["n"])
        operations = Counter(operation for _, operation, _ in endpoint.requests)
        assert operations["Publish"] >= 1 and operations["PublishBatch"] >= 1, endpoint.requests
        assert max(entries for _, _, entries in endpoint.requests) <= 10
    finally:
        endpoint.close()


def test_sqs_fifo_carries_the_routing_key_as_group_and_the_id_as_deduplication_id():
    channel = unique("sqsfifo")
    endpoint = AwsEndpoint()
    config = database() + aws("sqs", "awssqs", f"{channel}->queue:{QUEUE}.fifo", endpoint)
    try:
        with PgepProcess(config, bridges=1):
            notify(channel, [f"orders.{i % 3}|order {i}" for i in range(20)] + ["|keyless"])
            messages = endpoint.wait_bodies([f"order {i}" for i in range(20)] + ["keyless"])
        assert endpoint.problems == []
        for m in messages:
            assert m["dedup"] == m["attributes"]["pgep-id"]
            assert m["group"] == (channel if m["body"] == "keyless" else "orders." + str(int(m["body"].split()[1]) % 3))
        assert {operation for _, operation, _ in endpoint.requests} <= {"SendMessage", "SendMessageBatch"}
    finally:
        endpoint.close()


def test_lambda_event_and_request_response_with_a_function_that_fails_once():
    channel = unique("lambda")
    queued, waited = AwsEndpoint(), AwsEndpoint()
    waited.answer("function_error")
    config = database() + aws("queued", "awslambda", f"{channel}->function:{FUNCTION}", queued) + \
        aws("waited", "awslambda", f"{channel}->function:on-event", waited, invocation_type="RequestResponse")
    try:
        with PgepProcess(config, bridges=2) as pgep:
            notify(channel, ['row.insert|{"id": 1}', "plain|text"])
            for endpoint in (queued, waited):
                endpoint.wait_bodies(['{"id": 1}', "text"])
            pgep.wait_log(r"the function failed \(Unhandled\)")
        assert queued.problems == [] and waited.problems == []
        by_body = {m["body"]: m for m in queued.messages}
        assert by_body['{"id": 1}']["envelope"]["body"] == {"id": 1}  # JSON embedded as it is
        assert by_body['{"id": 1}']["envelope"]["routing_key"] == "row.insert"
        assert by_body["text"]["envelope"]["channel"] == channel
        assert {m["invocation_type"] for m in queued.messages} == {"Event"}
        assert {m["invocation_type"] for m in waited.messages} == {"RequestResponse"}
        assert {m["target"] for m in waited.messages} == {"on-event"}
    finally:
        queued.close()
        waited.close()


def test_throttling_and_a_503_are_waited_out_and_nothing_is_lost():
    channel = unique("throttle")
    endpoint = AwsEndpoint()
    endpoint.answer(("error", 400, "Throttling", "Rate exceeded"), ("error", 503, "ServiceUnavailable", "later"))
    # One request in flight, so each scripted answer meets a request pgep waits for.
    config = database() + aws("sqs", "awssqs", f"{channel}->queue:{QUEUE}", endpoint, max_in_flight="10")
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, [f"k|event {i}" for i in range(30)])
            endpoint.wait_bodies([f"event {i}" for i in range(30)], 60)
            pgep.wait_log(r"answered 400 Throttling: Rate exceeded")
            pgep.wait_log(r"answered 503 ServiceUnavailable")
        assert endpoint.problems == []
    finally:
        endpoint.close()


def test_failed_batch_entries_alone_are_sent_again_and_a_refused_one_becomes_a_dead_letter():
    channel = unique("entries")
    endpoint = AwsEndpoint()
    failed_once = set()

    def fate(service, entry):
        body = entry.get("Message")
        if body == "bad":
            return ("InvalidParameter", True)
        if body.startswith("flaky") and body not in failed_once:
            failed_once.add(body)
            return ("InternalError", False)
        return None
    endpoint.entry_fate = fate
    config = database() + aws("sns", "awssns", f"{channel}->topic:{TOPIC}", endpoint, dead_letter_after="2")
    # Refusals are logged once a minute per routing key: the bad one has a key of its own.
    payloads = [f"k|good {i}" for i in range(20)] + [f"k|flaky {i}" for i in range(3)] + ["b|bad"]
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, payloads)
            endpoint.wait_bodies([p[2:] for p in payloads if p != "b|bad"], 60)
            pgep.wait_log(r"giving up on it \(dead letter\)", timeout=30)
            pgep.wait_log(r"failed the entry: InvalidParameter")
            pgep.wait_log(r"failed the entry: InternalError")
        assert endpoint.problems == []
        taken = Counter(m["body"] for m in endpoint.messages)
        assert "bad" not in taken
        assert all(count == 1 for count in taken.values()), [b for b, c in taken.items() if c > 1]
        assert any(operation == "PublishBatch" for _, operation, _ in endpoint.requests)
    finally:
        endpoint.close()


def test_a_wrong_secret_is_a_clear_error_the_bridge_waits_and_a_reload_mends_it():
    channel = unique("badkey")
    endpoint = AwsEndpoint()
    right = database() + aws("sqs", "awssqs", f"{channel}->queue:{QUEUE}", endpoint)
    wrong = right.replace(f"secret_access_key = {endpoint.secret}", "secret_access_key = not-the-secret")
    try:
        with PgepProcess(wrong, bridges=1) as pgep:
            notify(channel, [f"k|held {i}" for i in range(5)])
            pgep.wait_log(r"answered 403 SignatureDoesNotMatch")
            assert endpoint.messages == []
            assert endpoint.problems, "botocore's check let a wrong signature through"
            reload_with(pgep, right)
            endpoint.wait_bodies([f"held {i}" for i in range(5)], 60, what="the held events after the reload")
            assert "not-the-secret" not in pgep.log_text()
    finally:
        endpoint.close()


@pytest.mark.parametrize("kind", ["awssns", "awssqs", "awslambda"])
def test_kill_9_of_the_worker_mid_window_loses_nothing(kind):
    channel = unique("awskill")
    endpoint = AwsEndpoint()
    endpoint.delay = 0.05  # 10 in flight at 0.05 s each: the kill lands mid-stream
    config = database() + aws("up", kind, f"{channel}->{TARGETS[kind]}", endpoint, max_in_flight="10",
                              **({"batch": "1"} if kind != "awslambda" else {}))
    try:
        with PgepProcess(config, bridges=1) as pgep:
            notify(channel, [f"k|event {i}" for i in range(200)])
            wait_until(lambda: len(endpoint.messages) >= 30, 30, what="30 events taken")
            assert len(endpoint.messages) < 200
            for pid in pgep.worker_pids():
                os.kill(pid, signal.SIGKILL)
            endpoint.wait_bodies([f"event {i}" for i in range(200)], 60, what="every event after the worker was killed")
        assert endpoint.problems == []
    finally:
        endpoint.close()


@pytest.mark.parametrize("kind", ["awssns", "awssqs", "awslambda"])
def test_an_endpoint_that_is_down_at_first_gets_every_event_once_it_listens(kind):
    channel = unique("awsdown")
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nothing listens there until the endpoint starts
    endpoint = AwsEndpoint(tls=False, port=port)
    endpoint.close()
    config = database() + aws("up", kind, f"{channel}->{TARGETS[kind]}", endpoint, tls_ca_file="")
    with PgepProcess(config, bridges=1) as pgep:
        notify(channel, [f"k|early {i}" for i in range(5)])
        pgep.wait_log(r"no answer from http://127\.0\.0\.1:\d+: .*Couldn't connect")
        endpoint = AwsEndpoint(tls=False, port=port)
        try:
            endpoint.wait_bodies([f"early {i}" for i in range(5)], 60, what="the events held while it was down")
            assert endpoint.problems == []
        finally:
            endpoint.close()
