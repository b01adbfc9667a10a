"""The Debian package (issue 11), installed on this machine: what it puts where, the user it
creates, pgep run from it by its init script as that user, and a purge that takes it all away.

It needs root and the package: make deb, then PGEP_DEB=build/pgep_VERSION_ARCH.deb make test,
as .ci/run does. Without PGEP_DEB it is skipped."""
import grp
import os
import pwd
import stat

import pytest

from brokers import Postgres, RedisSubscriber, unique
from conftest import run, wait_until
from helpers import upstream

DEB = os.environ.get("PGEP_DEB")

pytestmark = pytest.mark.skipif(not DEB or os.geteuid() != 0,
                                reason="needs root and PGEP_DEB (make deb; PGEP_DEB=build/pgep_*.deb make test)")


def ok(args, **kwargs):
    done = run(args, timeout=300, **kwargs)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def mode_owner(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name


@pytest.fixture
def installed():
    assert run(["dpkg-query", "-W", "pgep"]).returncode != 0, "pgep is installed already: this test installs it"
    ok(["dpkg", "-i", os.path.abspath(DEB)])
    try:
        yield
    finally:
        if os.path.exists("/etc/init.d/pgep"):  # the test failed before its purge
            run(["/etc/init.d/pgep", "stop"])
            run(["dpkg", "--purge", "pgep"], timeout=300)


def test_the_package_installs_runs_as_pgep_and_purges(installed):
    # What it installed, and how.
    assert ok(["/usr/bin/pgep", "--version"]).stdout.startswith("pgep ")
    assert os.readlink("/usr/bin/pg-event-proxy") == "pgep"
    assert os.path.exists("/usr/bin/pgep-worker") and os.path.exists("/usr/share/pgep/sql/1_events.sql")
    assert "usage: pgep-ctl" in ok(["/usr/bin/pgep-ctl", "--help"]).stdout
    # The man pages it ships (a minimal image's dpkg may be told not to unpack /usr/share/man).
    contents = ok(["dpkg-deb", "-c", DEB]).stdout
    for page in ("pgep", "pgep-ctl", "pgep-worker", "pg-event-proxy"):
        assert f"./usr/share/man/man8/{page}.8.gz" in contents, page
    user = pwd.getpwnam("pgep")
    assert user.pw_uid < 1000 and user.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    assert mode_owner("/etc/pgep/pgep.ini") == (0o640, "root", "pgep")
    assert mode_owner("/var/lib/pgep") == (0o700, "pgep", "pgep")
    assert "/etc/pgep/pgep.ini" in ok(["dpkg-query", "-W", "-f=${Conffiles}", "pgep"]).stdout
    # The sample configuration is valid, as the unit's ExecStartPre checks it, as user pgep.
    ok(["runuser", "-u", "pgep", "--", "/usr/bin/pgep", "--check-config", "/etc/pgep/pgep.ini"])
    if os.path.exists("/usr/bin/systemd-analyze"):
        ok(["systemd-analyze", "verify", "/lib/systemd/system/pgep.service"])

    # pgep from the package, started by its init script: as user pgep, reachable with pgep-ctl.
    channel = unique("deb")
    with open("/etc/pgep/pgep.ini", "w") as f:
        f.write(f"[database]\nuri = {os.environ['PGEP_PG_URI']}\n\n" + upstream("cache", "redis", f"{channel}->topic:{channel}"))
    sub = RedisSubscriber(f"{channel}*")
    try:
        started = run(["/etc/init.d/pgep", "start"], timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr + open("/var/log/pgep.log").read()
        pid = int(open("/run/pgep.pid").read())
        assert pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name == "pgep"
        assert mode_owner("/run/pgep") == (0o700, "pgep", "pgep")
        wait_until(lambda: "broker connected" in open("/var/log/pgep.log").read(), 20, what="the worker")
        status = ok(["/usr/bin/pgep-ctl", "-c", "/etc/pgep/pgep.ini", "status"])
        assert "bridge cache/" in status.stdout
        pg = Postgres()
        pg.notify(channel, ["k|from the package"])
        pg.close()
        assert sub.wait(1)[0][1] == b"from the package"
        assert "pgep stopped" in ok(["/etc/init.d/pgep", "stop"]).stdout
    finally:
        sub.close()

    # Purge: nothing of it stays but the user.
    ok(["dpkg", "--purge", "pgep"])
    for path in ("/usr/bin/pgep", "/usr/bin/pg-event-proxy", "/etc/pgep", "/var/lib/pgep", "/etc/init.d/pgep",
                 "/lib/systemd/system/pgep.service", "/var/log/pgep.log"):
        assert not os.path.lexists(path), path
    assert "/etc/pgep/pgep.ini" not in run(["dpkg-statoverride", "--list"]).stdout
