"""NATS JetStream (issue 15): `kind = nats`, `subject:NAME` (NAME.KEY with a routing key), each
event published with Nats-Msg-Id = its id, acknowledged by the stream's PubAck. Against Debian's
nats-server with JetStream, started by scripts/services; read back through JetStream's own API
(nats_client.py)."""
import os

from brokers import notify, unique
from conftest import wait_until
from helpers import database, row_ids, upstream
from nats_client import NatsClient
from nats_server import USER, NatsServer, NKey, operator_mode
from pgep_process import PgepProcess


def nats(name, bridges, **options):
    return upstream(name, "nats", bridges, uri=os.environ["PGEP_NATS_URI"], **options)


def stream_for(client, subject, **config):
    name = "T_" + subject.upper()
    client.create_stream(name, [subject, subject + ".>"], **config)
    return name


def test_each_event_is_stored_with_its_id_on_its_subject():
    channel = unique("nats")
    subject = unique("ev")
    client = NatsClient()
    stream = stream_for(client, subject)
    try:
        with PgepProcess(database() + nats("bus", f"{channel}->subject:{subject}"), bridges=1):
            notify(channel, ["orders.new|first", "|second"] + [f"k|n{i}" for i in range(48)])
            wait_until(lambda: len(client.stream_messages(stream)) >= 50, 30, what="50 messages in the stream")
        messages = client.stream_messages(stream)
        assert [(m["subject"], m["body"]) for m in messages[:2]] == [(f"{subject}.orders.new", b"first"), (subject, b"second")]
        ids = [m["headers"]["Nats-Msg-Id"] for m in messages]
        assert len(set(ids)) == 50
        assert {m["headers"]["Pgep-Channel"] for m in messages} == {channel}
    finally:
        client.delete_stream(stream)
        client.close()


def test_no_stream_for_the_subject_is_a_clear_error_and_declare_creates_one():
    channel = unique("nostream")
    lonely, declared = unique("lonely"), unique("declared")
    client = NatsClient()
    config = database() + nats("bare", f"{channel}->subject:{lonely}") + \
        nats("auto", f"{channel}->subject:{declared}", declare="true")
    try:
        with PgepProcess(config, bridges=2) as pgep:
            notify(channel, ["k|hello"])
            pgep.wait_log(r"no JetStream stream takes the subject \(subject " + lonely +
                          r"; create a stream for it, or set declare = true\)")
            name = "PGEP_" + declared.upper()
            wait_until(lambda: len(client.stream_messages(name)) == 1, 30, what="the event in the declared stream")
            assert client.stream_messages(name)[0]["subject"] == f"{declared}.k"
            # Once a stream takes the subject, the held event goes through.
            stream = stream_for(client, lonely)
            wait_until(lambda: len(client.stream_messages(stream)) == 1, 60, what="the held event once a stream exists")
    finally:
        for name in ("PGEP_" + declared.upper(), "T_" + lonely.upper()):
            client.delete_stream(name)
        client.close()


def test_a_wrong_password_is_a_clear_error():
    channel = unique("natsauth")
    uri = os.environ["PGEP_NATS_URI"].replace("pgep-secret", "wrong")
    with PgepProcess(database() + upstream("bus", "nats", f"{channel}->subject:x", uri=uri), bridges=0) as pgep:
        pgep.wait_log(r"connect to nats://pgep:\*\*\*\*@127\.0\.0\.1:\d+ failed: .*(Authorization|authorization)")
        assert "wrong" not in pgep.log_text()


def test_rows_survive_a_worker_kill_a_nats_restart_and_a_pgep_restart_and_jetstream_drops_the_duplicates(wal):
    subject = unique("rows")
    client = NatsClient()
    stream = stream_for(client, subject, duplicate_window=300 * 10**9)
    try:
        bridge = nats("bus", f"wal2json->subject:{subject}", max_in_flight="100")
        client.close()  # the restart of nats-server ends its connection
        client = NatsClient()
        wal.through_every_restart(
            bridge, "nats", started=lambda: client.js(f"STREAM.INFO.{stream}")["state"]["messages"] >= 300)
        client.close()
        client = NatsClient()

        def messages():
            return client.stream_messages(stream)
        wait_until(lambda: len(set(row_ids([m["body"] for m in messages()], wal.table))) == 3000, 120,
                   what="every row in the stream")
        got = messages()
        ids = [m["headers"]["Nats-Msg-Id"] for m in got]
        assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates JetStream did not drop"
        assert sorted(row_ids([m["body"] for m in got], wal.table)) == list(range(3000))
    finally:
        client.delete_stream(stream)
        client.close()


def stream_fills(server, uri, count=20, **options):
    """pgep with a NATS upstream at `uri` (declare = true) sends `count` events; the server's
    declared stream ends up holding them all. Returns pgep's log."""
    channel, subject = unique("secure"), unique("sec")
    bridge = upstream("bus", "nats", f"{channel}->subject:{subject}", uri=uri, declare="true", **options)
    with PgepProcess(database() + bridge, bridges=1) as pgep:
        notify(channel, [f"k|n{i}" for i in range(count)])
        wait_until(lambda: server.stream_messages("PGEP_" + subject.upper()) == count, 30,
                   what=f"{count} messages in the declared stream")
        return pgep.log_text()


def test_tls_with_the_test_ca_and_a_token(tmp_path):
    server = NatsServer(str(tmp_path), 'authorization { token: "t0ken-of-pgep" }\n', tls=True)
    try:
        uri = f"tls://127.0.0.1:{server.port}"
        log = stream_fills(server, uri, token="t0ken-of-pgep", tls_ca_file=os.environ["PGEP_TLS_CA"])
        assert "t0ken-of-pgep" not in log
        with PgepProcess(database() + upstream("bus", "nats", "c->subject:x", uri=uri, token="wrong",
                                               tls_ca_file=os.environ["PGEP_TLS_CA"]), bridges=0) as pgep:
            pgep.wait_log(r"connect to tls://127\.0\.0\.1:\d+ failed: .*(Authorization|authorization)")
        # Without the test CA, the server's certificate is not trusted: a clear error.
        with PgepProcess(database() + upstream("bus", "nats", "c->subject:x", uri=uri, token="t0ken-of-pgep"),
                         bridges=0) as pgep:
            pgep.wait_log(r"connect to tls://127\.0\.0\.1:\d+ failed: .*(SSL|certificate|verif)")
    finally:
        server.close()


def test_an_nkey_user_signs_with_its_seed_file(tmp_path):
    user = NKey(USER)
    seed_file = tmp_path / "pgep.nk"
    seed_file.write_text(user.seed + "\n")
    server = NatsServer(str(tmp_path), f"authorization {{ users: [ {{ nkey: {user.public} }} ] }}\n")
    try:
        stream_fills(server, f"nats://127.0.0.1:{server.port}", nkey=user.public, nkey_seed_file=str(seed_file))
        # Another user's seed does not sign for this public key.
        seed_file.write_text(NKey(USER).seed + "\n")
        with PgepProcess(database() + upstream("bus", "nats", "c->subject:x", uri=f"nats://127.0.0.1:{server.port}",
                                               nkey=user.public, nkey_seed_file=str(seed_file)), bridges=0) as pgep:
            pgep.wait_log(r"connect to nats://127\.0\.0\.1:\d+ failed: .*(Authorization|authorization)")
    finally:
        server.close()


def test_a_credentials_file_under_an_operator(tmp_path):
    settings, creds = operator_mode(str(tmp_path))
    server = NatsServer(str(tmp_path), settings)
    try:
        uri = f"nats://127.0.0.1:{server.port}"
        stream_fills(server, uri, credentials_file=creds)
        # A user of an account this server's operator never signed is refused.
        os.mkdir(tmp_path / "other")
        _, stranger = operator_mode(str(tmp_path / "other"))
        with PgepProcess(database() + upstream("bus", "nats", "c->subject:x", uri=uri, credentials_file=stranger),
                         bridges=0) as pgep:
            pgep.wait_log(r"connect to nats://127\.0\.0\.1:\d+ failed: .*(Authorization|authorization)")
    finally:
        server.close()
