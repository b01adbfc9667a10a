"""TLS that verifies by default (issue 11): amqps:// and mqtts:// with a CA file or the system's
store, PostgreSQL with sslmode and sslrootcert from the URI, and a warning at start for every
connection that leaves the machine without a certificate check."""
import os


from brokers import AmqpQueue, MqttSubscriber, unique
from conftest import build_path, run, wait_until
from helpers import connect, database, insert_rows, upstream
from pgep_process import PgepProcess


def test_tls_to_rabbitmq_and_mosquitto(pg):
    channel = unique("tls")
    ca = os.environ["PGEP_TLS_CA"]
    amqp = AmqpQueue("amq.topic", f"{channel}.#")
    mqtt_all = MqttSubscriber("#")
    config = database() + \
        upstream("bus", "amqp", f"{channel}->exchange:amq.topic", uri=os.environ["PGEP_AMQPS_URI"], tls_ca_file=ca) + \
        upstream("things", "mqtt", f"{channel}->topic:{channel}", uri=os.environ["PGEP_MQTTS_URI"], tls_ca_file=ca) + \
        upstream("unchecked", "mqtt", f"{channel}->topic:{channel}.unchecked", uri=os.environ["PGEP_MQTTS_URI"],
                 tls_verify="false")
    with PgepProcess(config, bridges=3):
        pg.notify(channel, [f"{channel}.k|over TLS"])
        assert [(k, b) for k, b, _ in amqp.fetch(1)] == [(f"{channel}.k", b"over TLS")]
        got = sorted(t for t, b in mqtt_all.wait(2) if b == b"over TLS")
        assert got == [f"{channel}.{channel}.k", f"{channel}.unchecked.{channel}.k"]
    amqp.close()
    mqtt_all.close()


def test_tls_trusts_the_system_ca_store_when_no_ca_file_is_given(pg):
    # A scratch system trust store: OpenSSL's default paths follow SSL_CERT_FILE, which pgep
    # passes on to its workers. With the test CA in it, amqps:// and mqtts:// verify without
    # tls_ca_file; the broker's name is still checked (localhost is in its certificate).
    channel = unique("systls")
    amqp = AmqpQueue("amq.topic", f"{channel}.#")
    mqtt_all = MqttSubscriber("#")
    config = database() + \
        upstream("bus", "amqp", f"{channel}->exchange:amq.topic", uri=os.environ["PGEP_AMQPS_URI"]) + \
        upstream("things", "mqtt", f"{channel}->topic:{channel}", uri=os.environ["PGEP_MQTTS_URI"])
    with PgepProcess(config, env={"SSL_CERT_FILE": os.environ["PGEP_TLS_CA"]}, bridges=2):
        pg.notify(channel, [f"{channel}.k|trusted by the system store"])
        assert [b for _, b, _ in amqp.fetch(1)] == [b"trusted by the system store"]
        assert [t for t, b in mqtt_all.wait(1) if b == b"trusted by the system store"] == [f"{channel}.{channel}.k"]
    amqp.close()
    mqtt_all.close()


def test_tls_with_an_unknown_ca_is_a_clear_error(pg):
    channel = unique("badtls")
    # The system's CAs do not know the test CA: verification must fail, and say so.
    config = database() + \
        upstream("bus", "amqp", f"{channel}->exchange:amq.topic", uri=os.environ["PGEP_AMQPS_URI"]) + \
        upstream("things", "mqtt", f"{channel}->topic:x", uri=os.environ["PGEP_MQTTS_URI"])
    with PgepProcess(config, bridges=None) as pgep:
        pgep.wait_log(r"bus/.*broker unreachable: cannot connect to localhost:\d+: .*(SSL|certificate|verif)")
        pgep.wait_log(r"things/.*broker unreachable: connect failed: .*certificate verify failed")


def tls_database_uri(ca, name="pgep"):
    return (f"postgresql://postgres@localhost:{os.environ['PGEP_PG_PORT']}/postgres"
            f"?sslmode=verify-full&sslrootcert={ca}&application_name={name}")


def sessions_of(name):
    """(backend type, ssl) of every session of the pgep that calls itself `name`."""
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT a.backend_type, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
                    "WHERE a.application_name = %s", (name,))
        rows = cur.fetchall()
    conn.close()
    return rows


def test_postgres_connections_verify_the_server_with_sslrootcert(wal, pg):
    channel = unique("pgtls")
    redis_sub = wal.redis(f"{channel}*")
    rows = wal.redis("wal*")
    process = wal.pgep(upstream("cache", "redis", f"{channel}->topic:{channel},wal2json->topic:wal"))
    process.env["PGPROXY_DATABASE-URI"] = tls_database_uri(os.environ["PGEP_TLS_CA"], channel)
    process.notify = True
    process.start()
    process.wait_log(r"streaming the WAL from slot " + wal.slot)
    pg.notify(channel, ["k|over verified TLS"])
    assert redis_sub.wait(1)[0][1] == b"over verified TLS"
    insert_rows(wal.conn, wal.table, 0, 10, 10)
    wait_until(lambda: len([c for c, _ in rows.messages if c == f"wal.public.{wal.table}.insert".encode()]) == 10,
               30, what="10 rows over TLS")
    sessions = wait_until(lambda: len(sessions_of(channel)) >= 3 and sessions_of(channel), 10,
                          what="pgep's NOTIFY, outbox and WAL sessions")
    assert all(ssl for _, ssl in sessions), sessions
    assert "walsender" in [kind for kind, _ in sessions]
    assert "is not on this machine" not in process.log_text()  # localhost: nothing to warn of


def test_postgres_with_a_certificate_from_another_ca_is_refused(tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    made = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "other.key"),
                "-out", str(other_ca), "-days", "1", "-subj", "/CN=another CA"])
    assert made.returncode == 0, made.stderr
    channel = unique("pgbadtls")
    config = upstream("cache", "redis", f"{channel}->topic:{channel}")
    with PgepProcess(config, env={"PGPROXY_DATABASE-URI": tls_database_uri(other_ca)}, notify=False) as pgep:
        pgep.wait_log(r"certificate verify failed")
        assert "listening on" not in pgep.log_text()


def test_a_remote_peer_without_verification_is_warned_of_once(tmp_path):
    # 192.0.2.1 is TEST-NET-1: never on this machine, never answering.
    remote_db = "postgresql://postgres@192.0.2.1:5432/postgres?connect_timeout=1"
    config = (upstream("cache", "redis", "a->topic:a") +
              upstream("bus", "amqp", "a->exchange:amq.topic", uri="amqp://guest:guest@192.0.2.1:5672/"))
    (tmp_path / "pgep.ini").write_text(config)
    env = {"PATH": os.environ["PATH"], "PGPROXY_DATABASE-URI": remote_db}
    checked = run([build_path("pgep"), "--check-config", str(tmp_path / "pgep.ini")], env=env)
    assert checked.returncode == 0, checked.stderr
    assert "warning: the database host 192.0.2.1 is not on this machine and sslmode is prefer" in checked.stderr
    assert "warning: upstream bus (192.0.2.1) is not on this machine and amqp:// is not encrypted" in checked.stderr
    assert "guest" not in checked.stderr
    verified = run([build_path("pgep"), "--check-config", str(tmp_path / "pgep.ini")],
                   env={**env, "PGPROXY_DATABASE-URI": remote_db + "&sslmode=verify-full"})
    assert "the database host" not in verified.stderr and "upstream bus" in verified.stderr
    with PgepProcess(config, env={"PGPROXY_DATABASE-URI": remote_db}, notify=False) as pgep:
        pgep.wait_log(r"(NOTIFY|lock) connection failed")
        assert pgep.count(r"warn: the database host 192\.0\.2\.1 is not on this machine") == 1
