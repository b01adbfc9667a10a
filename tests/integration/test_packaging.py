"""How operators run pgep: the LSB init script, and pgep as a container's command under tini,
both as an unprivileged user (issue 11)."""
import os
import pathlib
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile

import pytest

from brokers import Postgres, RedisSubscriber, unique
from conftest import ROOT, build_path, clean_env, wait_until
from helpers import database, upstream

INIT = os.path.join(ROOT, "etc", "init.d", "pgep")


def write_config(tmp_path, channel, extra=""):
    config = tmp_path / "pgep.ini"
    config.write_text(f"[pgep]\ncontrol_socket = {tmp_path}/pgep.sock\n{extra}\n" + database() +
                      upstream("cache", "redis", f"{channel}->topic:{channel}"))
    return config


@pytest.fixture
def open_dir():
    """A scratch directory others may read (tmp_path is 0700): for a pgep run as nobody."""
    path = tempfile.mkdtemp(prefix="pgep-open-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[1])


def init_env(base, config, **extra):
    return clean_env(PGEP_BIN=build_path("pgep"), PGEP_CTL=build_path("pgep-ctl"), PGEP_CONFIG=str(config),
                     PGEP_PIDFILE=str(base / "pgep.pid"), PGEP_LOG=str(base / "pgep.log"),
                     PGEP_RUNDIR=str(base / "run"), PGEP_STATEDIR=str(base / "state"), **extra)


def test_init_script_start_status_reload_stop(tmp_path):
    channel = unique("init")
    config = write_config(tmp_path, channel)
    env = init_env(tmp_path, config, PGEP_USER="root")

    def init(command):
        return subprocess.run([INIT, command], env=env, capture_output=True, text=True, timeout=120)

    sub = RedisSubscriber(f"{channel}*")
    try:
        assert init("status").returncode == 3
        started = init("start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert init("start").stdout.strip() == "pgep is already running"
        status = init("status")
        assert status.returncode == 0 and "bridge cache/" in status.stdout
        pg = Postgres()
        wait_until(lambda: "broker connected" in (tmp_path / "pgep.log").read_text(), 20, what="the worker")
        pg.notify(channel, ["k|through the init script"])
        assert sub.wait(1)[0][1] == b"through the init script"
        pg.close()
        assert init("reload").returncode == 0
        good = config.read_text()
        config.write_text(good.replace("kind = redis", "kind = rediss"))
        reload = init("reload")
        assert reload.returncode == 1 and "reload refused, the running configuration stays" in reload.stderr
        assert init("status").returncode == 0  # a refused reload leaves it running
        config.write_text(good)
        stopped = init("stop")
        assert stopped.returncode == 0 and "pgep stopped" in stopped.stdout
        assert init("status").returncode == 3
        assert not (tmp_path / "pgep.pid").exists()
        # A broken configuration is refused before anything starts.
        config.write_text(config.read_text().replace("kind = redis", "kind = rediss"))
        broken = init("start")
        assert broken.returncode == 1 and "has errors" in broken.stderr
        assert init("status").returncode == 3
    finally:
        init("stop")
        sub.close()


def test_the_init_script_runs_pgep_as_PGEP_USER(open_dir):
    if os.geteuid() != 0:
        pytest.skip("changing user needs root")
    channel = unique("inituser")
    config = open_dir / "pgep.ini"
    config.write_text(database() + upstream("cache", "redis", f"{channel}->topic:{channel}"))
    config.chmod(0o644)
    env = init_env(open_dir, config, PGEP_USER="nobody")

    def init(command):
        return subprocess.run([INIT, command], env=env, capture_output=True, text=True, timeout=120)

    sub = RedisSubscriber(f"{channel}*")
    nobody = pwd.getpwnam("nobody").pw_uid
    try:
        started = init("start")
        assert started.returncode == 0, started.stdout + started.stderr + (open_dir / "pgep.log").read_text()
        pid = int((open_dir / "pgep.pid").read_text())
        workers = wait_until(lambda: subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split(),
                             10, what="the worker")
        assert [uid_of(p) for p in [pid, *workers]] == [nobody] * (1 + len(workers))
        for name in ("run", "state"):
            st = os.stat(open_dir / name)
            assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (nobody, 0o700), name
        assert stat.S_ISSOCK(os.stat(open_dir / "run" / "pgep.sock").st_mode)
        # status, as root, finds the socket by the same rule as pgep.
        assert "bridge cache/" in init("status").stdout
        wait_until(lambda: "broker connected" in (open_dir / "pgep.log").read_text(), 20, what="the worker")
        pg = Postgres()
        pg.notify(channel, ["k|as nobody"])
        pg.close()
        assert sub.wait(1)[0][1] == b"as nobody"
        stopped = init("stop")
        assert stopped.returncode == 0 and "pgep stopped" in stopped.stdout
    finally:
        init("stop")
        sub.close()


def test_pgep_under_tini_as_an_unprivileged_user_stops_cleanly_on_sigterm_with_nothing_lost(open_dir):
    if os.geteuid() != 0:
        pytest.skip("changing user needs root")
    channel = unique("tini")
    config = open_dir / "pgep.ini"
    config.write_text("[pgep]\nlog_level = debug\n" + database() + upstream("cache", "redis", f"{channel}->topic:{channel}"))
    config.chmod(0o644)
    state = open_dir / "state"
    state.mkdir(mode=0o700)
    os.chown(state, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    sub = RedisSubscriber(f"{channel}*")
    log_path = open_dir / "pgep.log"
    log = open(log_path, "wb")
    # As the image runs it (Dockerfile): tini as PID 1's stand-in, pgep as its child, as a user
    # that is not root, with its directories given by the environment; SIGTERM to tini.
    env = clean_env(RUNTIME_DIRECTORY=str(state), STATE_DIRECTORY=str(state))
    proc = subprocess.Popen(["tini", "-s", "--", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                             build_path("pgep"), str(config)], stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)
    try:
        wait_until(lambda: "broker connected" in log_path.read_text(), 30, what="pgep under tini")
        assert uid_of(int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout)) != 0
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(1000)])
        pg.close()
        wait_until(lambda: log_path.read_text().count("NOTIFY on") >= 1000, 30,
                   what="pgep to read the 1000 notifications")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        text = log_path.read_text()
        assert "stopped" in text and "shutdown_timeout passed" not in text
        assert sorted(int(b) for _, b in sub.wait(1000)) == list(range(1000))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        sub.close()


def test_the_image_runs_pgep_as_a_user_that_is_not_root():
    # No docker engine here to build it: the test above runs pgep as the image does, and this
    # checks the image says so (the last stage's USER, and the directories made for it).
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        last_stage = f.read().rsplit("\nFROM ", 1)[1]
    users = [line.split()[1] for line in last_stage.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    assert f"-o {users[-1]} -g {users[-1]} /var/lib/pgep /run/pgep" in last_stage
    assert "RUNTIME_DIRECTORY=/run/pgep STATE_DIRECTORY=/var/lib/pgep" in last_stage
