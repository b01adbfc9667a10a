"""A small NATS client for the tests, over the server's documented text protocol (Debian packages
nats-server but no Python client): CONNECT, PUB, SUB, MSG and HMSG, and JetStream's API, which
is request and reply on $JS.API subjects. Enough to create and delete streams, read a stream's
messages one by one with their headers, and read its state."""
import base64
import json
import os
import socket
import urllib.parse
import uuid


class NatsClient:
    def __init__(self, uri=None, timeout=10):
        parts = urllib.parse.urlsplit(uri or os.environ["PGEP_NATS_URI"])
        self.sock = socket.create_connection((parts.hostname, parts.port or 4222), timeout=timeout)
        self.file = self.sock.makefile("rb")
        info = self.file.readline()
        assert info.startswith(b"INFO "), info
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                   "user": urllib.parse.unquote(parts.username or ""), "pass": urllib.parse.unquote(parts.password or "")}
        self._send(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
        line = self.file.readline()
        assert line == b"PONG\r\n", line
        self.inbox = "_INBOX." + uuid.uuid4().hex
        self._send(f"SUB {self.inbox}.* 1\r\n".encode())

    def _send(self, data):
        self.sock.sendall(data)

    def request(self, subject, payload=b""):
        """The reply's (headers, payload) to a request on `subject`."""
        reply = f"{self.inbox}.{uuid.uuid4().hex[:8]}"
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        self._send(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("the NATS server closed the connection")
            if line == b"PING\r\n":
                self._send(b"PONG\r\n")
                continue
            words = line.split()
            if words[0] == b"MSG":  # MSG subject sid [reply] size
                headers, body = b"", self.file.read(int(words[-1]) + 2)[:-2]
            elif words[0] == b"HMSG":  # HMSG subject sid [reply] header_size total_size
                data = self.file.read(int(words[-1]) + 2)[:-2]
                headers, body = data[:int(words[-2])], data[int(words[-2]):]
            else:
                continue
            if words[1].decode() == reply:
                return headers, body

    def js(self, api, payload=b""):
        """JetStream's answer (a dict) to `api` ("STREAM.INFO.NAME", ...)."""
        _, body = self.request("$JS.API." + api, payload)
        return json.loads(body)

    def create_stream(self, name, subjects, **config):
        answer = self.js(f"STREAM.CREATE.{name}", {"name": name, "subjects": subjects, "storage": "file", **config})
        assert "error" not in answer, answer
        return answer

    def delete_stream(self, name):
        self.js(f"STREAM.DELETE.{name}")

    def stream_messages(self, name):
        """Every message of stream `name`: dicts of subject, headers (a dict) and body (bytes)."""
        info = self.js(f"STREAM.INFO.{name}")
        assert "error" not in info, info
        state = info["state"]
        messages = []
        for seq in range(state["first_seq"], state["last_seq"] + 1):
            answer = self.js(f"STREAM.MSG.GET.{name}", {"seq": seq})
            if "error" in answer:
                continue  # deleted
            message = answer["message"]
            headers = {}
            for line in base64.b64decode(message.get("hdrs", "")).decode().split("\r\n")[1:]:
                if ":" in line:
                    key, value = line.split(":", 1)
                    headers[key.strip()] = value.strip()
            messages.append({"subject": message["subject"], "headers": headers,
                             "body": base64.b64decode(message.get("data", ""))})
        return messages

    def close(self):
        self.sock.close()
