"""A local AWS endpoint for the tests of awssns, awssqs and awslambda (issue 14).

No AWS server is packaged, so this one checks every request with botocore (Debian's
python3-botocore), the reference code of AWS's own Python SDK:

- the Signature Version 4 is computed again by botocore's SigV4Auth from the request as it
  arrived, and compared; the access key, the credential scope, the session token and the clock
  (AWS allows 5 minutes) are checked too;
- the request is read into the operation's parameters, validated by botocore's ParamValidator
  against the operation's input shape in botocore's service model, and serialized again by
  botocore's serializer: the result must be the request received, parameter for parameter;
- each answer is what AWS documents for the operation (its XML, or Lambda's status, headers and
  JSON), read back by botocore's own response parser before it is sent.

What is wrong is answered as AWS would (403 SignatureDoesNotMatch, 400 ValidationError) and kept
in `problems`, which every test asserts empty."""
import hmac
import http.server
import json
import re
import threading
import time
import traceback
import urllib.parse
import uuid
from datetime import datetime, timezone

import botocore.session
from botocore import parsers
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

from conftest import wait_until
from webhook_server import serve

MODELS = {name: botocore.session.get_session().get_service_model(name) for name in ("sns", "sqs", "lambda")}
NAMESPACES = {"sns": "http://sns.amazonaws.com/doc/2010-03-31/", "sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}
AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                           r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})")


class Refusal(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


class AwsEndpoint:
    def __init__(self, tls=True, port=0, region="eu-west-1", access_key="AKIDPGEPTEST",
                 secret="pgep/test+secret", token="pgep-session-token"):
        self.region, self.access_key, self.secret, self.token = region, access_key, secret, token
        self.messages = []  # every message taken: dicts of service, target, body, attributes, group, dedup, ...
        self.requests = []  # (service, operation, entries) of every request that passed the checks
        self.problems = []  # what botocore found wrong
        self.script = []    # the next answers: "ok", ("error", status, code, message, headers), "function_error"
        self.entry_fate = lambda service, entry: None  # a batch entry's failure: None or (code, sender_fault)
        self.delay = 0.0    # seconds each answer waits (a slow service, so a window stays full)
        self.lock = threading.Lock()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(endpoint.delay)
                status, headers, answer = endpoint.handle(self.path, self.headers, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd, self.uri = serve(Handler, tls, port)
        self.scheme = "https" if tls else "http"
        self.port = self.httpd.server_address[1]

    # What a test uses.

    def answer(self, *actions):
        with self.lock:
            self.script.extend(actions)

    def wait_bodies(self, bodies, timeout=60, what="every message"):
        wanted = set(bodies)
        wait_until(lambda: {m["body"] for m in list(self.messages)} >= wanted, timeout,
                   what=lambda: f"{what} (missing {sorted(wanted - {m['body'] for m in self.messages})[:5]}"
                                f"; problems {self.problems[:3]})")
        with self.lock:
            return list(self.messages)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # Each request.

    def handle(self, path, headers, body):
        service = "sns"
        try:
            service = self.check_signature(path, headers, body)
            if service == "lambda":
                return self.invoke(path, headers, body)
            return self.query(service, body)
        except Refusal as refusal:
            if refusal.code in ("SignatureDoesNotMatch", "ValidationError", "InvalidClientTokenId"):
                with self.lock:
                    self.problems.append(f"{refusal.code}: {refusal}")
            return self.error(service, refusal.status, refusal.code, str(refusal))
        except Exception:  # a request this reading cannot take apart is a problem too
            with self.lock:
                self.problems.append(traceback.format_exc())
            return self.error(service, 400, "ValidationError", "unreadable request")

    def next_action(self):
        with self.lock:
            return self.script.pop(0) if self.script else "ok"

    def check_signature(self, path, headers, body):
        found = AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
        if not found:
            raise Refusal(403, "SignatureDoesNotMatch", f"no SigV4 Authorization header: {headers.get('Authorization')!r}")
        key, date, region, service, signed, signature = found.groups()
        if key != self.access_key:
            raise Refusal(403, "InvalidClientTokenId", f"unknown access key {key}")
        if region != self.region or service not in MODELS:
            raise Refusal(403, "SignatureDoesNotMatch", f"credential scope {region}/{service}")
        amz_date = headers.get("X-Amz-Date", "")
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        if not amz_date.startswith(date) or abs(time.time() - when.timestamp()) > 300:
            raise Refusal(403, "SignatureDoesNotMatch", f"X-Amz-Date {amz_date} against the scope's {date} and now")
        names = signed.split(";")
        wanted = {"host", "x-amz-date"} | ({"x-amz-security-token"} if self.token else set())
        if not wanted <= set(names) or any(headers.get(n) is None for n in names):
            raise Refusal(403, "SignatureDoesNotMatch", f"signed headers {signed}")
        if self.token and headers.get("X-Amz-Security-Token") != self.token:
            raise Refusal(403, "SignatureDoesNotMatch", "wrong session token")
        request = AWSRequest(method="POST", url=f"{self.scheme}://{headers['Host']}{path}",
                             headers={n: headers[n] for n in names}, data=body)
        request.context["timestamp"] = amz_date
        auth = SigV4Auth(Credentials(self.access_key, self.secret, self.token), service, region)
        canonical = auth.canonical_request(request)
        if auth.signed_headers(auth.headers_to_sign(request)) != signed:
            raise Refusal(403, "SignatureDoesNotMatch", f"botocore signs {auth.signed_headers(auth.headers_to_sign(request))}")
        expected = auth.signature(auth.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, signature):
            raise Refusal(403, "SignatureDoesNotMatch", f"signature {signature}, botocore computes {expected}")
        return service

    def checked(self, model, operation, params):
        report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
        if report.has_errors():
            raise Refusal(400, "ValidationError", report.generate_report())
        return create_serializer(model.protocol, True).serialize_to_request(params, model.operation_model(operation))

    # SNS and SQS: the query protocol.

    def query(self, service, body):
        model = MODELS[service]
        pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
        received = dict(pairs)
        if len(received) != len(pairs):
            raise Refusal(400, "ValidationError", "a parameter given twice")
        operation = received.get("Action")
        if operation not in model.operation_names or received.get("Version") != model.api_version:
            raise Refusal(400, "ValidationError", f"Action {operation} Version {received.get('Version')}")
        flat = {k: v for k, v in received.items() if k not in ("Action", "Version")}
        shape = model.operation_model(operation).input_shape
        params = from_query(shape, tree(flat))
        again = {k: str(v).lower() if isinstance(v, bool) else str(v)
                 for k, v in self.checked(model, operation, params)["body"].items()}
        if again != received:
            raise Refusal(400, "ValidationError", f"botocore serializes {again}, received {received}")
        action = self.next_action()
        if action != "ok":
            return self.error(service, *action[1:])
        batch = operation in ("PublishBatch", "SendMessageBatch")
        entries = params.get("PublishBatchRequestEntries") or params.get("Entries") or [params]
        target = params.get("TopicArn") or params.get("QueueUrl")
        taken, failed = [], []
        for entry in entries:
            fate = self.entry_fate(service, entry)
            if fate and not batch:
                code, sender_fault = fate
                return self.error(service, 400 if sender_fault else 500, code, "the entry failed")
            if fate:
                failed.append((entry["Id"], *fate))
                continue
            taken.append(entry.get("Id"))
            attributes = entry.get("MessageAttributes") or {}
            with self.lock:
                self.messages.append({
                    "service": service, "operation": operation, "target": target,
                    "body": entry.get("Message") or entry.get("MessageBody"),
                    "attributes": {name: value["StringValue"] for name, value in attributes.items()},
                    "group": entry.get("MessageGroupId"), "dedup": entry.get("MessageDeduplicationId")})
        with self.lock:
            self.requests.append((service, operation, len(entries)))
        return self.query_answer(service, operation, taken, failed)

    def query_answer(self, service, operation, taken, failed):
        ns = NAMESPACES[service]
        if operation == "Publish":
            result = f"<MessageId>{uuid.uuid4()}</MessageId>"
        elif operation == "SendMessage":
            result = f"<MD5OfMessageBody>{'0' * 32}</MD5OfMessageBody><MessageId>{uuid.uuid4()}</MessageId>"
        elif operation == "PublishBatch":
            ok = "".join(f"<member><Id>{i}</Id><MessageId>{uuid.uuid4()}</MessageId></member>" for i in taken)
            bad = "".join(f"<member><Id>{i}</Id><Code>{c}</Code><Message>the entry failed</Message>"
                          f"<SenderFault>{str(s).lower()}</SenderFault></member>" for i, c, s in failed)
            result = f"<Successful>{ok}</Successful><Failed>{bad}</Failed>"
        else:
            ok = "".join(f"<SendMessageBatchResultEntry><Id>{i}</Id><MessageId>{uuid.uuid4()}</MessageId>"
                         f"<MD5OfMessageBody>{'0' * 32}</MD5OfMessageBody></SendMessageBatchResultEntry>" for i in taken)
            bad = "".join(f"<BatchResultErrorEntry><Id>{i}</Id><SenderFault>{str(s).lower()}</SenderFault>"
                          f"<Code>{c}</Code><Message>the entry failed</Message></BatchResultErrorEntry>" for i, c, s in failed)
            result = ok + bad
        xml = (f'<{operation}Response xmlns="{ns}"><{operation}Result>{result}</{operation}Result>'
               f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{operation}Response>")
        parsed = parsers.create_parser("query").parse(
            {"status_code": 200, "headers": {}, "body": xml.encode()}, MODELS[service].operation_model(operation).output_shape)
        if operation.endswith("Batch") and (len(parsed.get("Successful", [])), len(parsed.get("Failed", []))) != (len(taken), len(failed)):
            with self.lock:
                self.problems.append(f"botocore reads the answer {xml} as {parsed}")
        return 200, {"Content-Type": "text/xml"}, xml.encode()

    def error(self, service, status, code, message, headers=None):
        if service == "lambda":
            answer = json.dumps({"Type": "User", "message": message}).encode()
            return status, {"Content-Type": "application/json", "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/",
                            **(headers or {})}, answer
        xml = (f'<ErrorResponse xmlns="{NAMESPACES[service]}"><Error><Type>Sender</Type><Code>{code}</Code>'
               f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
        return status, {"Content-Type": "text/xml", **(headers or {})}, xml.encode()

    # Lambda: rest-json.

    def invoke(self, path, headers, body):
        model = MODELS["lambda"]
        found = re.fullmatch(r"/2015-03-31/functions/([^/?]+)/invocations", path)
        if not found:
            raise Refusal(400, "ValidationError", f"path {path}")
        params = {"FunctionName": urllib.parse.unquote(found.group(1)), "Payload": body}
        if headers.get("X-Amz-Invocation-Type"):
            params["InvocationType"] = headers["X-Amz-Invocation-Type"]
        again = self.checked(model, "Invoke", params)
        if again["url_path"] != path or again["body"] != body or \
                again["headers"].get("X-Amz-Invocation-Type") != headers.get("X-Amz-Invocation-Type"):
            raise Refusal(400, "ValidationError", f"botocore serializes {again}")
        envelope = json.loads(body)
        if sorted(envelope) != ["body", "channel", "id", "routing_key"]:
            raise Refusal(400, "ValidationError", f"the envelope {envelope}")
        action = self.next_action()
        if action == "function_error":
            return 200, {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"}, \
                json.dumps({"errorMessage": "boom", "errorType": "Error"}).encode()
        if action != "ok":
            return self.error("lambda", *action[1:])
        with self.lock:
            self.requests.append(("lambda", "Invoke", 1))
            self.messages.append({"service": "lambda", "target": params["FunctionName"],
                                  "invocation_type": params.get("InvocationType"), "envelope": envelope,
                                  "body": envelope["body"] if isinstance(envelope["body"], str) else json.dumps(envelope["body"])})
        if params.get("InvocationType") == "RequestResponse":
            return 200, {"X-Amz-Executed-Version": "$LATEST", "Content-Type": "application/json"}, b'{"ok": true}'
        return 202, {}, b""


def tree(flat):
    """{"A.1.B": v} as {"A": {"1": {"B": v}}}."""
    root = {}
    for key, value in flat.items():
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def from_query(shape, node):
    """The parameters `node` (tree()) holds for `shape`, named as botocore's query serializer
    names them; the serializer, run again on the result, judges whether this reading was right."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                key = member.member.serialization.get("name", key)
            if key in node:
                out[name] = from_query(member, node[key])
        return out
    if kind == "list":
        items = node if shape.serialization.get("flattened") else node.get(shape.member.serialization.get("name", "member"), {})
        return [from_query(shape.member, items[str(i)]) for i in range(1, len(items) + 1)]
    if kind == "map":
        entries = node if shape.serialization.get("flattened") else node["entry"]
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        return {from_query(shape.key, e[key_name]): from_query(shape.value, e[value_name])
                for e in (entries[str(i)] for i in range(1, len(entries) + 1))}
    if kind in ("integer", "long"):
        return int(node)
    if kind == "boolean":
        return node == "true"
    return node
