"""A nats-server (Debian's) of a test's own, for what the shared one in scripts/services does not
do: TLS, a token, nkey users, and operator mode with JWTs (what a credentials file carries).
Streams are read through the server's monitoring port (/jsz), which needs no client credentials.

NATS keys are ed25519 keys written in NATS's own text form (nkeys): a prefix byte naming the
role, the key, a CRC-16, all in base32. No nkeys tool is packaged, so this file writes them with
python3-cryptography, following the nkeys and JWT v2 formats."""
import base64
import hashlib
import json
import os
import re
import subprocess
import time
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import wait_until

SEED, OPERATOR, ACCOUNT, USER = 18 << 3, 14 << 3, 0, 20 << 3  # nkeys prefix bytes


def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def base32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def base64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class NKey:
    """An ed25519 key pair with its nkeys public key ("U…", "A…", "O…") and seed ("SU…", …)."""

    def __init__(self, role):
        self.private = Ed25519PrivateKey.generate()
        raw_seed = self.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
        raw_public = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        public = bytes([role]) + raw_public
        self.public = base32(public + crc16(public).to_bytes(2, "little"))
        seed = bytes([SEED | role >> 5, (role & 31) << 3]) + raw_seed
        self.seed = base32(seed + crc16(seed).to_bytes(2, "little"))

    def jwt(self, subject, kind, name, **nats):
        """A JWT v2 issued by this key for `subject` (an NKey)."""
        claims = {"iat": int(time.time()), "iss": self.public, "name": name, "sub": subject.public,
                  "nats": dict(nats, type=kind, version=2)}
        claims["jti"] = base32(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest())
        header = base64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
        body = base64url(json.dumps(claims).encode())
        signature = base64url(self.private.sign(f"{header}.{body}".encode()))
        return f"{header}.{body}.{signature}"


UNLIMITED_ACCOUNT = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
                     "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def operator_mode(directory):
    """Server settings trusting an operator, with one account (JetStream on) and the text of a
    user's credentials file for it."""
    operator, system, account, user = NKey(OPERATOR), NKey(ACCOUNT), NKey(ACCOUNT), NKey(USER)
    system_jwt = operator.jwt(system, "account", "SYS")  # JetStream needs the server's own account
    account_jwt = operator.jwt(account, "account", "pgep", limits=UNLIMITED_ACCOUNT)
    user_jwt = account.jwt(user, "user", "pgep", pub={}, sub={}, subs=-1, data=-1, payload=-1)
    settings = (f'operator: "{operator.jwt(operator, "operator", "pgep-test")}"\n'
                f'system_account: {system.public}\nresolver: MEMORY\n'
                f'resolver_preload: {{ {system.public}: "{system_jwt}", {account.public}: "{account_jwt}" }}\n')
    creds = os.path.join(directory, "pgep.creds")
    with open(creds, "w") as f:
        f.write(f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
                f"-----BEGIN USER NKEY SEED-----\n{user.seed}\n------END USER NKEY SEED------\n")
    return settings, creds


class NatsServer:
    """nats-server on ephemeral loopback ports with JetStream and `settings` (its config text);
    `tls` serves TLS with the run's test certificate."""

    def __init__(self, directory, settings="", tls=False):
        self.directory = directory
        config = os.path.join(directory, "nats.conf")
        tls_dir = os.path.dirname(os.environ["PGEP_TLS_CA"])
        with open(config, "w") as f:
            f.write(f'listen: "127.0.0.1:-1"\nhttp: "127.0.0.1:-1"\n'
                    f'jetstream {{ store_dir: "{directory}/js" }}\n{settings}')
            if tls:
                f.write(f'tls {{ cert_file: "{tls_dir}/server.pem", key_file: "{tls_dir}/server.key" }}\n')
        self.log = os.path.join(directory, "nats.log")
        self.proc = subprocess.Popen(["nats-server", "-c", config, "-l", self.log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.port = self._listening(r"Listening for client connections on 127\.0\.0\.1:(\d+)")
        self.http_port = self._listening(r"Starting http monitor on 127\.0\.0\.1:(\d+)")

    def _listening(self, pattern):
        found = []

        def listening():
            assert self.proc.poll() is None, f"nats-server ended: {self.log_text()}"
            found[:] = re.findall(pattern, self.log_text())
            return found
        wait_until(listening, 30, what="nats-server listening")
        return int(found[0])

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def monitor(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return json.loads(r.read())

    def stream_messages(self, name):
        """How many messages the stream `name` holds, in any account (0 if there is no such stream)."""
        jsz = self.monitor("/jsz?accounts=true&streams=true")
        return sum(stream["state"]["messages"] for account in jsz.get("account_details") or []
                   for stream in account.get("stream_detail") or [] if stream["name"] == name)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
