"""No /tmp defaults (issue 11): pgep's socket and state live in directories only pgep's user may
write, created 0700; a path that is a symbolic link, or a directory others may write, is refused
at start with an error that names it."""
import os
import re
import shutil
import stat

import pytest

from brokers import unique
from conftest import build_path, run
from helpers import database, upstream
from pgep_process import PgepProcess


def refused(config_text, pattern):
    """Starts pgep, which must exit 1 with a log line matching `pattern`; returns the log."""
    pgep = PgepProcess(config_text, own_socket=False)
    try:
        pgep.start(wait_ready=False)
        assert pgep.proc.wait(30) == 1, pgep.log_text()
        log = pgep.log_text()
        assert re.search(pattern, log), log
        return log
    finally:
        pgep.kill()


def config(pgep_section, channel):
    return f"[pgep]\n{pgep_section}\n\n" + database() + upstream("cache", "redis", f"{channel}->topic:{channel}")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_directories_pgep_creates_are_0700(tmp_path):
    state = tmp_path / "deep" / "state"
    socket_dir = tmp_path / "run" / "pgep"
    channel = unique("dirs")
    text = config(f"state_directory = {state}\ncontrol_socket = {socket_dir}/pgep.sock", channel)
    old = os.umask(0o022)
    try:
        with PgepProcess(text, own_socket=False, bridges=1) as pgep:
            assert mode(state) == 0o700 and mode(tmp_path / "deep") == 0o700
            assert mode(socket_dir) == 0o700
            assert mode(socket_dir / "pgep.sock") == 0o600
            status = run([build_path("pgep-ctl"), "-s", str(socket_dir / "pgep.sock"), "status"])
            assert status.returncode == 0, status.stderr
            assert pgep.stop() == 0
    finally:
        os.umask(old)


def test_a_directory_others_may_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    channel = unique("open")
    refused(config(f"state_directory = {shared}", channel),
            rf"the state directory: the directory {shared} is writable by others \(mode 0777\); "
            r"expected one only its owner may write")
    refused(config(f"control_socket = {shared}/pgep.sock", channel),
            rf"the control socket {shared}/pgep.sock: the directory {shared} is writable by others")
    # /tmp itself is writable by all: a pid file straight in it is what symlink attacks aim at.
    refused(config(f"pid_file = /tmp/{channel}.pid", channel), r"the pid file /tmp/.*: the directory /tmp is writable by others")
    # A private directory under one others may write (and that is not sticky) is not private.
    inner = shared / "inner"
    inner.mkdir(mode=0o700)
    refused(config(f"state_directory = {inner}", channel),
            rf"the directory {shared} above {inner} may be changed by another user")


def test_a_state_file_or_socket_that_is_a_symbolic_link_is_refused(tmp_path):
    channel = unique("link")
    target = tmp_path / "victim"
    target.write_text("must stay\n")
    (tmp_path / "state").symlink_to(target)
    refused(config(f"state_file = {tmp_path}/state", channel),
            rf"the state file {tmp_path}/state is a symbolic link; expected a plain path")
    (tmp_path / "pgep.sock").symlink_to(target)
    refused(config(f"control_socket = {tmp_path}/pgep.sock", channel),
            rf"the control socket {tmp_path}/pgep.sock is a symbolic link")
    assert target.read_text() == "must stay\n"


def test_a_control_socket_path_that_is_a_file_is_not_replaced(tmp_path):
    channel = unique("file")
    (tmp_path / "pgep.sock").write_text("someone's file\n")
    refused(config(f"control_socket = {tmp_path}/pgep.sock", channel),
            rf"{tmp_path}/pgep.sock exists and is not a socket; pgep will not replace it")
    assert (tmp_path / "pgep.sock").read_text() == "someone's file\n"


def test_as_root_the_defaults_are_under_run_and_var_lib(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the defaults for root need root")
    channel = unique("defaults")
    (tmp_path / "pgep.ini").write_text(config("", channel))
    printed = run([build_path("pgep"), "--check-config", str(tmp_path / "pgep.ini")], env={"PATH": os.environ["PATH"]})
    assert "control_socket = /run/pgep/pgep.sock" in printed.stdout, printed.stdout + printed.stderr
    assert "state_directory = /var/lib/pgep" in printed.stdout
    if not os.path.exists("/run/pgep/pgep.sock"):
        shutil.rmtree("/run/pgep", ignore_errors=True)
    with PgepProcess(config("", channel), own_socket=False, bridges=1) as pgep:
        assert mode("/run/pgep") == 0o700
        assert not (mode("/var/lib/pgep") & 0o022)
        # pgep-ctl finds the socket by the same rule, with no -s.
        status = run([build_path("pgep-ctl"), "status"], env=pgep.env)
        assert status.returncode == 0 and "bridge cache/" in status.stdout, status.stdout + status.stderr
        assert pgep.stop() == 0
    assert not os.path.exists("/run/pgep/pgep.sock")
