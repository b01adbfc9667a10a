"""What pgep's benchmarks share: the C consumer (build/pgep-bench-consumer, from make
bench-tools), and the CPU time and peak memory of a process read from /proc."""
import json
import os
import subprocess
import sys
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, TypeError):
        return 0.0


def peak_rss_mib(pid):
    """The peak resident memory of a live process (VmHWM), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, TypeError):
        pass
    return 0.0


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


class Consumer:
    """build/pgep-bench-consumer KIND URI TARGET COUNT, subscribed once the constructor returns.
    result() is its JSON line: received, distinct ids, seconds, latency_ms (p50, p95, p99, max)."""

    def __init__(self, build, kind, uri, target, count, idle_s=20):
        binary = os.path.join(build, "pgep-bench-consumer")
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: run make bench-tools")
        self.proc = subprocess.Popen([binary, kind, uri, target, str(count), str(idle_s)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if line.strip() != "ready":
            sys.exit(f"the consumer did not start: {line}{self.proc.stderr.read()}")

    def done(self):
        return self.proc.poll() is not None

    def result(self, timeout=300):
        out, err = self.proc.communicate(timeout=timeout)
        if not out.strip():
            sys.exit(f"the consumer said nothing: {err}")
        return json.loads(out)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak RSS of pgep and of its workers, sampled every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak_supervisor, self.peak_worker = pid, threading.Event(), 0, 0

    def run(self):
        while not self.stop.is_set():
            self.peak_supervisor = max(self.peak_supervisor, rss_kib(self.pid))
            for child in children(self.pid):
                self.peak_worker = max(self.peak_worker, rss_kib(child))
            time.sleep(0.05)
