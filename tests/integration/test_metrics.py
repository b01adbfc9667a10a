"""The metrics listener: /metrics parses as Prometheus text (the official client's parser) and
counts what happened; /healthz says whether pgep is ready."""
import socket
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from brokers import Postgres, RedisSubscriber, unique
from conftest import wait_until
from helpers import database, drop_slot, upstream
from pgep_process import PgepProcess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_and_healthz():
    channel = unique("met")
    slot = unique("metslot")
    port = free_port()
    sub = RedisSubscriber(f"{channel}*")
    config = f"[pgep]\nmetrics_listen = 127.0.0.1:{port}\n\n" + database(slot=slot) + \
        upstream("cache", "redis", f"{channel}->topic:{channel}, wal2json->topic:{channel}wal")
    try:
        with PgepProcess(config, bridges=2):
            wait_until(lambda: get(port, "/healthz")[0] == 200, 30, what="/healthz to say ready")
            pg = Postgres()
            pg.notify(channel, [f"k|{i}" for i in range(10)])
            pg.close()
            sub.wait(10)
            bridge = (("bridge", f"cache/{channel}->topic:{channel}"),)

            def counted():
                status, text = get(port, "/metrics")
                values = samples(text)
                return status == 200 and values.get(("pgep_bridge_acknowledged_total", bridge)) == 10 and values
            values = wait_until(counted, 30, what="the metrics to count 10 acknowledged events")
            assert values[("pgep_events_received_total", (("source", "notify"),))] == 10
            assert values[("pgep_ready", ())] == 1
            assert values[("pgep_broker_connected", bridge)] == 1
            assert values[("pgep_bridge_in_flight", bridge)] == 0
            assert ("pgep_replication_lag_bytes", (("slot", slot),)) in values
            assert get(port, "/nothing")[0] == 404
        # pgep stopped: the listener is gone with it.
        try:
            get(port, "/healthz")
            assert False, "the metrics listener outlived pgep"
        except (urllib.error.URLError, ConnectionError):
            pass
    finally:
        sub.close()
        drop_slot(slot)


def test_healthz_is_503_while_a_broker_is_unreachable():
    channel = unique("unhealthy")
    port = free_port()
    dead = free_port()  # nothing listens there
    config = f"[pgep]\nmetrics_listen = 127.0.0.1:{port}\n\n[database]\nuri = {__import__('os').environ['PGEP_PG_URI']}\n\n" + \
        upstream("cache", "redis", f"{channel}->topic:x", uri=f"redis://127.0.0.1:{dead}")
    with PgepProcess(config, bridges=None) as pgep:
        pgep.wait_log(r"broker unreachable")
        status, body = wait_until(lambda: (lambda r: r if r[0] else None)(get(port, "/healthz")), 10, what="/healthz")
        assert (status, body) == (503, "not ready\n")
        values = samples(get(port, "/metrics")[1])
        assert values[("pgep_ready", ())] == 0
        assert values[("pgep_broker_connected", (("bridge", f"cache/{channel}->topic:x"),))] == 0


def listening_addresses(port):
    """The local addresses of the TCP sockets listening on `port` (/proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


def test_idle_connections_are_closed_and_capped_and_a_port_alone_is_on_loopback():
    """Idle clients cannot exhaust the control socket or the metrics listener: each is closed
    after 5 s, and those over 32 at once are closed at once; metrics_listen = PORT is 127.0.0.1."""
    port = free_port()
    channel = unique("idle")
    config = f"[pgep]\nmetrics_listen = {port}\n\n" + database() + upstream("cache", "redis", f"{channel}->topic:x")
    with PgepProcess(config, bridges=1) as pgep:
        assert listening_addresses(port) == ["0100007F"], listening_addresses(port)  # 127.0.0.1 only
        idle = []
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX)
            s.connect(pgep.control_socket)
            idle.append(s)
        for _ in range(40):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        for s in idle:
            s.settimeout(15)
        closed = [s.recv(1) == b"" for s in idle]  # each is closed by pgep: at once, or after 5 s
        assert all(closed)
        assert pgep.ctl("status").returncode == 0
        assert get(port, "/healthz")[0] == 200
        for s in idle:
            s.close()


def test_the_roles_of_a_pair_in_metrics_and_healthz():
    """Two pgeps of one configuration (issue 16): the active one says pgep_active 1 and /healthz
    200 ready; the standby pgep_active 0 and 200 standby (healthy, and said apart)."""
    channel, slot = unique("metha"), unique("methaslot")
    ports = [free_port(), free_port()]

    def config(port):
        return f"[pgep]\nmetrics_listen = 127.0.0.1:{port}\n\n" + database(slot=slot) + \
            upstream("cache", "redis", f"{channel}->topic:{channel}")
    try:
        with PgepProcess(config(ports[0]), bridges=1) as active:
            active.wait_log(r"active: this pgep holds the lock")
            with PgepProcess(config(ports[1]), bridges=1, notify=False) as standby:
                standby.wait_log(r"standby: another pgep holds the lock")
                wait_until(lambda: get(ports[1], "/healthz") == (200, "standby\n"), 30, what="/healthz: standby")
                assert get(ports[0], "/healthz") == (200, "ready\n")
                values = [samples(get(port, "/metrics")[1]) for port in ports]
                assert [v[("pgep_active", ())] for v in values] == [1, 0]
                assert [v[("pgep_takeovers_total", ())] for v in values] == [1, 0]
                active.kill()
                wait_until(lambda: samples(get(ports[1], "/metrics")[1])[("pgep_active", ())] == 1, 30,
                           what="the standby active")
                wait_until(lambda: get(ports[1], "/healthz") == (200, "ready\n"), 30, what="/healthz: ready")
                assert samples(get(ports[1], "/metrics")[1])[("pgep_takeovers_total", ())] == 1
    finally:
        drop_slot(slot)
