"""Runs build/pgep as a real daemon for a test: writes its configuration, starts it, waits until
it is ready (every LISTEN done and every worker connected to its broker, as its log says),
stops it with SIGTERM, and always kills it and its workers at the end."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

from conftest import build_path, clean_env, wait_until


class PgepProcess:
    def __init__(self, config_text=None, env=None, bridges=None, notify=True, own_socket=True):
        self.dir = tempfile.mkdtemp(prefix="pgep-test-")
        self.config = None
        if config_text is not None:
            self.config = os.path.join(self.dir, "pgep.ini")
            with open(self.config, "w") as f:
                f.write(config_text)
        # A control socket of its own, so that tests never reach another pgep's; or, with
        # own_socket=False, the one the configuration or the defaults give.
        self.control_socket = os.path.join(self.dir, "pgep.sock") if own_socket else None
        socket_env = {"PGPROXY_PGEP-CONTROL_SOCKET": self.control_socket} if own_socket else {}
        self.env = clean_env(**{**socket_env, **(env or {})})
        self.log_path = os.path.join(self.dir, "pgep.log")
        self.bridges = bridges  # how many "broker connected" lines mean ready
        self.notify = notify
        self.proc = None

    def start(self, wait_ready=True):
        args = [build_path("pgep")] + ([self.config] if self.config else [])
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait_ready:
            self.wait_ready()
        return self

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def count(self, pattern, since=0):
        return len(re.findall(pattern, self.log_text()[since:]))

    def wait_log(self, pattern, count=1, timeout=30, since=0):
        wait_until(lambda: self.count(pattern, since) >= count or self._died(), timeout,
                   what=lambda: f"{count} log line(s) matching {pattern!r}; pgep's log ends with:\n" +
                   "\n".join(self.log_text().splitlines()[-15:]))
        assert self.proc.poll() is None, "pgep exited:\n" + self.log_text()

    def _died(self):
        return self.proc.poll() is not None

    def wait_ready(self, timeout=30):
        if self.notify:
            self.wait_log(r"listening on \d+ NOTIFY channel", timeout=timeout)
        if self.bridges:
            self.wait_log(r"broker connected", count=self.bridges, timeout=timeout)

    def ctl(self, *args):
        """Runs pgep-ctl against this pgep; returns the CompletedProcess."""
        return subprocess.run([build_path("pgep-ctl"), "-s", self.control_socket, *args],
                              capture_output=True, text=True, timeout=30)

    def status(self):
        """`pgep-ctl status --json`, read."""
        return json.loads(self.ctl("status", "--json").stdout)

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, timeout=30):
        """SIGTERM, then wait for a clean exit; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        if self.proc:
            # Workers are in pgep's session: none may survive it.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if getattr(self, "log", None):
            self.log.close()
        if not os.environ.get("PGEP_KEEP_TEST_LOGS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:  # a pgep that never became ready must not outlive its test
            self.kill()
            raise

    def __exit__(self, *exc):
        self.kill()
