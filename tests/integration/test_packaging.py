"""How operators run pgep: the LSB init script, and pgep as a container's command under tini."""
import os
import signal
import subprocess

from brokers import Postgres, RedisSubscriber, unique
from conftest import ROOT, build_path, clean_env, wait_until
from helpers import database, upstream

INIT = os.path.join(ROOT, "etc", "init.d", "pgep")


def write_config(tmp_path, channel, extra=""):
    config = tmp_path / "pgep.ini"
    config.write_text(f"[pgep]\ncontrol_socket = {tmp_path}/pgep.sock\n{extra}\n" + database() +
                      upstream("cache", "redis", f"{channel}->topic:{channel}"))
    return config


def test_init_script_start_status_reload_stop(tmp_path):
    channel = unique("init")
    config = write_config(tmp_path, channel)
    env = clean_env(PGEP_BIN=build_path("pgep"), PGEP_CTL=build_path("pgep-ctl"), PGEP_CONFIG=str(config),
                    PGEP_PIDFILE=str(tmp_path / "pgep.pid"), PGEP_LOG=str(tmp_path / "pgep.log"))

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


def test_pgep_under_tini_stops_cleanly_on_sigterm_with_nothing_lost(tmp_path):
    channel = unique("tini")
    config = write_config(tmp_path, channel, "log_level = debug")
    sub = RedisSubscriber(f"{channel}*")
    log = open(tmp_path / "pgep.log", "wb")
    # As a container would run it: tini as the parent, pgep as its child, SIGTERM to tini.
    proc = subprocess.Popen(["tini", "-s", "--", build_path("pgep"), str(config)], stdout=log, stderr=subprocess.STDOUT,
                            env=clean_env(), start_new_session=True)
    try:
        wait_until(lambda: "broker connected" in (tmp_path / "pgep.log").read_text(), 30, what="pgep under tini")
        pg = Postgres()
        pg.notify(channel, [f"k|{i}" for i in range(1000)])
        pg.close()
        wait_until(lambda: (tmp_path / "pgep.log").read_text().count("NOTIFY on") >= 1000, 30,
                   what="pgep to read the 1000 notifications")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        text = (tmp_path / "pgep.log").read_text()
        assert "stopped" in text and "shutdown_timeout passed" not in text
        assert sorted(int(b) for _, b in sub.wait(1000)) == list(range(1000))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        sub.close()
