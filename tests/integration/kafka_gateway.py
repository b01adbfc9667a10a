"""TLS and SASL/PLAIN in front of the tests' Kafka. librdkafka's mock cluster (kafka_mock.py)
speaks neither, and Debian packages no broker that does; so, to show that the `properties` pgep
passes to librdkafka really turn on TLS and SASL, a gateway per broker takes TLS connections with
the run's test certificate, answers the SASL handshake itself (PLAIN, one user), and only then
forwards the connection's Kafka frames to its broker. It refuses every other request before a
login. Two edits make the mock's answers fit: ApiVersions gains SaslHandshake and
SaslAuthenticate, and the brokers' addresses in metadata become the gateways' (same length, so
no frame changes size)."""
import asyncio
import os
import ssl
import struct
import threading

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM = 58, 33


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_uvarint(data, at):
    n = shift = 0
    while True:
        byte = data[at]
        at += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, at


def with_sasl(body, version):
    """An ApiVersions answer's body with SaslHandshake v0-1 and SaslAuthenticate v0-1 added."""
    if struct.unpack(">h", body[:2])[0] != 0:
        return body
    if version >= 3:  # a compact array, each entry with an empty tag buffer
        count, at = read_uvarint(body, 2)
        end = at + (count - 1) * 7
        added = struct.pack(">hhh", SASL_HANDSHAKE, 0, 1) + b"\0" + struct.pack(">hhh", SASL_AUTHENTICATE, 0, 1) + b"\0"
        return body[:2] + uvarint(count + 2) + body[at:end] + added + body[end:]
    count = struct.unpack(">i", body[2:6])[0]
    end = 6 + count * 6
    added = struct.pack(">hhh", SASL_HANDSHAKE, 0, 1) + struct.pack(">hhh", SASL_AUTHENTICATE, 0, 1)
    return body[:2] + struct.pack(">i", count + 2) + body[6:end] + added + body[end:]


def kafka_string(s):
    return struct.pack(">h", len(s)) + s


async def read_frame(reader):
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    return await reader.readexactly(size)


class KafkaGateway:
    def __init__(self, mock, username, password):
        self.credentials = b"\0" + username.encode() + b"\0" + password.encode()
        self.logins = self.refused = self.unauthenticated = 0
        brokers = [int(b.rsplit(":", 1)[1]) for b in mock.bootstrap.split(",")]
        tls_dir = os.path.dirname(os.environ["PGEP_TLS_CA"])
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(f"{tls_dir}/server.pem", f"{tls_dir}/server.key")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = [self._call(asyncio.start_server(
            lambda r, w, port=port: self._serve(r, w, port), "127.0.0.1", 0, ssl=self.tls)) for port in brokers]
        gateways = [s.sockets[0].getsockname()[1] for s in self.servers]
        self.addresses = [(b"127.0.0.1" + struct.pack(">i", b), b"127.0.0.1" + struct.pack(">i", g))
                          for b, g in zip(brokers, gateways)]
        self.uri = "kafka://" + ",".join(f"127.0.0.1:{g}" for g in gateways)

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _serve(self, client_reader, client_writer, port):
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", port)
        asked = {}  # correlation id -> (api key, version) of the requests forwarded
        try:
            await asyncio.gather(self._requests(client_reader, client_writer, broker_writer, asked),
                                 self._answers(broker_reader, client_writer, asked))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, PermissionError):
            pass
        finally:
            for writer in (client_writer, broker_writer):
                writer.close()

    async def _requests(self, client_reader, client_writer, broker_writer, asked):
        logged_in = False
        while True:
            frame = await read_frame(client_reader)
            api, version, correlation = struct.unpack(">hhi", frame[:8])
            client_id = struct.unpack(">h", frame[8:10])[0]
            body = frame[10 + max(client_id, 0):]  # request header v1: these two APIs, v0-1
            if api == SASL_HANDSHAKE:
                mechanism = body[2:2 + struct.unpack(">h", body[:2])[0]]
                error = 0 if mechanism == b"PLAIN" else UNSUPPORTED_SASL_MECHANISM
                self._answer(client_writer, correlation, struct.pack(">hi", error, 1) + kafka_string(b"PLAIN"))
            elif api == SASL_AUTHENTICATE:
                given = body[4:4 + struct.unpack(">i", body[:4])[0]]
                logged_in = given == self.credentials
                self.logins += logged_in
                self.refused += not logged_in
                error, message = (0, None) if logged_in else (SASL_AUTHENTICATION_FAILED, b"Invalid username or password")
                answer = struct.pack(">h", error) + (struct.pack(">h", -1) if message is None else kafka_string(message))
                answer += struct.pack(">i", 0) + (struct.pack(">q", 0) if version >= 1 else b"")
                self._answer(client_writer, correlation, answer)
                if not logged_in:
                    await client_writer.drain()
                    raise PermissionError("login refused")
            elif logged_in or api == API_VERSIONS:
                asked[correlation] = (api, version)
                broker_writer.write(struct.pack(">i", len(frame)) + frame)
            else:
                self.unauthenticated += 1
                raise PermissionError("a request before the login")
            await broker_writer.drain()

    async def _answers(self, broker_reader, client_writer, asked):
        while True:
            frame = await read_frame(broker_reader)
            api, version = asked.pop(struct.unpack(">i", frame[:4])[0], (None, 0))
            if api == API_VERSIONS:
                frame = frame[:4] + with_sasl(frame[4:], version)
            for broker, gateway in self.addresses:
                frame = frame.replace(broker, gateway)
            client_writer.write(struct.pack(">i", len(frame)) + frame)
            await client_writer.drain()

    @staticmethod
    def _answer(writer, correlation, body):
        frame = struct.pack(">i", correlation) + body
        writer.write(struct.pack(">i", len(frame)) + frame)

    def close(self):
        async def stop():
            for server in self.servers:
                server.close()
            connections = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in connections:
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
        self._call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
