"""Shared fixtures for the integration tests. tests/run starts the servers and exports their
settings (scripts/services env); these tests talk to them and to pgep's binaries in PGEP_BUILD."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_path(name):
    return os.path.join(os.environ.get("PGEP_BUILD", os.path.join(ROOT, "build")), name)


def clean_env(**extra):
    """The environment without any PGPROXY_ variable, plus `extra` (names may hold '-')."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGPROXY_")}
    env.update(extra)
    return env


def run(args, env=None, timeout=60, **kwargs):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def wait_until(condition, timeout=30.0, interval=0.05, what="condition"):
    """Polls `condition` until it returns a true value; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def process_gone(pid):
    """True when `pid` has exited (a zombie counts: PID 1 here reaps late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def pgep():
    return build_path("pgep")


@pytest.fixture
def pg():
    """A PostgreSQL session of the test's own, for NOTIFY."""
    from brokers import Postgres
    p = Postgres()
    yield p
    p.close()


@pytest.fixture(scope="session")
def services():
    needed = ["PGEP_SERVICES_DIR", "PGEP_PG_URI", "PGEP_AMQP_URI", "PGEP_MQTT_URI", "PGEP_REDIS_URI"]
    missing = [n for n in needed if n not in os.environ]
    if missing:
        pytest.fail("the servers' settings are missing (run through tests/run): " + ", ".join(missing))
    return {n: os.environ[n] for n in needed}


# The WAL behaviours hold with either plugin (issue 12): the tests of these modules run once
# with wal2json and once with pgoutput, unless marked wal2json_only (format 1, wal2json's own
# parameters and errors).
BOTH_PLUGINS = {"test_wal", "test_wal_flush", "test_slot_identity", "test_reload", "test_dead_letters", "test_faults"}


def pytest_configure(config):
    config.addinivalue_line("markers", "wal2json_only: a WAL test of something only wal2json has")


def pytest_generate_tests(metafunc):
    if "wal" not in metafunc.fixturenames:
        return
    both = metafunc.module.__name__ in BOTH_PLUGINS and not metafunc.definition.get_closest_marker("wal2json_only")
    metafunc.parametrize("wal", ["wal2json", "pgoutput"] if both else ["wal2json"], indirect=True)


@pytest.fixture
def wal(request):
    """A fresh slot and table for one WAL test, with what it opens and starts closed afterwards
    (wal_setup.py), streamed with the plugin the test is parametrized with. The test's name,
    shortened, prefixes the slot's and the table's names."""
    from wal_setup import WalSetup
    setup = WalSetup("w_" + request.node.originalname.removeprefix("test_")[:10].rstrip("_"), request.param)
    yield setup
    setup.close()


@pytest.fixture(scope="session")
def second_cluster():
    """A second PostgreSQL cluster (scripts/services on another port base), for tests about two
    clusters on one host: its settings as scripts/services env gives them, and its system_id."""
    import psycopg2
    directory = tempfile.mkdtemp(prefix="pgep-pg2-", dir="/tmp")
    services = os.path.join(ROOT, "scripts", "services")
    env = dict(os.environ, PGEP_PORT_BASE="26000")
    started = run([services, "start", directory, "postgres"], env=env, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        text = run([services, "env", directory], env=env).stdout
        settings = dict(re.findall(r"^export (PGEP_PG_\w+)='?([^'\n]*)'?$", text, re.M))
        with psycopg2.connect(settings["PGEP_PG_URI"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT system_identifier::text FROM pg_control_system()")
            settings["system_id"] = cur.fetchone()[0]
        yield settings
    finally:
        run([services, "stop", directory, "postgres"], env=env, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)
