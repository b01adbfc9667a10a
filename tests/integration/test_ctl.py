"""pgep-ctl over the control socket: status (text and JSON), restart BRIDGE, stop, exit codes."""
import json
import os
import stat
import subprocess

from brokers import Postgres, RedisSubscriber, unique
from conftest import build_path, wait_until
from helpers import database, upstream
from pgep_process import PgepProcess


def test_status_restart_and_stop():
    channel = unique("ctl")
    sub = RedisSubscriber(f"{channel}*")
    config = database() + upstream("cache", "redis", f"{channel}->topic:{channel}a, {channel}->topic:{channel}b")
    pgep = PgepProcess(config, bridges=2).start()
    try:
        assert stat.S_IMODE(os.stat(pgep.control_socket).st_mode) == 0o600
        status = wait_until(lambda: (lambda r: r if json.loads(r.stdout)["ready"] else None)(pgep.ctl("status", "--json")),
                            20, what="pgep-ctl status to say ready")
        assert status.returncode == 0
        answer = json.loads(status.stdout)
        names = sorted(b["name"] for b in answer["bridges"])
        assert names == [f"cache/{channel}->topic:{channel}a", f"cache/{channel}->topic:{channel}b"]
        assert all(b["state"] == "running" and b["broker_connected"] and b["pid"] > 0 for b in answer["bridges"])
        text = pgep.ctl("status")
        assert text.returncode == 0 and "ready" in text.stdout and f"bridge cache/{channel}->topic:{channel}a: running" in text.stdout

        pg = Postgres()
        pg.notify(channel, ["k|before"])
        sub.wait(2)
        old_pid = next(b["pid"] for b in answer["bridges"] if b["name"].endswith("a"))
        restarted = pgep.ctl("restart", f"cache/{channel}->topic:{channel}a")
        assert restarted.returncode == 0, restarted.stderr

        def new_worker():
            b = next(b for b in pgep.status()["bridges"] if b["name"].endswith("a"))
            return b["pid"] not in (0, old_pid) and b["broker_connected"] and b
        bridge = wait_until(new_worker, 20, what="a new worker for the restarted bridge")
        assert bridge["restarts"] == 1
        pg.notify(channel, ["k|after"])
        assert sorted(b for _, b in sub.wait(4)) == [b"after", b"after", b"before", b"before"]
        pg.close()

        unknown = pgep.ctl("restart", "nope")
        assert unknown.returncode == 1 and "no bridge \"nope\"; the bridges are:" in unknown.stderr
        assert pgep.ctl("reload").returncode == 0  # nothing changed: nothing restarts
        assert pgep.ctl("frobnicate").returncode == 2

        stopped = pgep.ctl("stop")
        assert stopped.returncode == 0
        assert pgep.proc.wait(30) == 0
        assert not os.path.exists(pgep.control_socket)
        gone = pgep.ctl("status")
        assert gone.returncode == 3 and "pgep is not running" in gone.stderr
    finally:
        pgep.kill()
        sub.close()


def test_not_running_and_usage_exit_codes(tmp_path):
    ctl = build_path("pgep-ctl")
    missing = subprocess.run([ctl, "-s", str(tmp_path / "none.sock"), "status"], capture_output=True, text=True)
    assert missing.returncode == 3
    assert "pgep is not running" in missing.stderr
    assert subprocess.run([ctl], capture_output=True).returncode == 2
    assert subprocess.run([ctl, "restart"], capture_output=True).returncode == 2


def test_a_second_pgep_on_the_same_socket_refuses_to_start():
    channel = unique("twice")
    config = database() + upstream("cache", "redis", f"{channel}->topic:x")
    first = PgepProcess(config, bridges=1).start()
    try:
        second = PgepProcess(config, env={"PGPROXY_PGEP-CONTROL_SOCKET": first.control_socket}).start(wait_ready=False)
        assert second.proc.wait(30) == 1
        assert "another pgep is running with the control socket" in second.log_text()
        second.kill()
        assert first.ctl("status").returncode == 0
    finally:
        first.kill()
