"""The set-up every WAL test shares (the `wal` fixture in conftest.py): a fresh slot and table,
the subscribers the test opens and the pgeps it starts; everything closed, stopped and the slot
dropped afterwards."""
import os
import shutil
import signal
import tempfile

from brokers import AmqpQueue, MqttSubscriber, RedisSubscriber, unique
from helpers import connect, database, drop_slot, make_table
from pgep_process import PgepProcess


class WalSetup:
    def __init__(self, name, plugin="wal2json"):
        self.slot = unique(name)
        self.table = unique(name)
        self.conn = make_table(self.table)
        self.plugin = plugin
        # pgoutput streams a publication: one of the test's table (FOR ALL TABLES would make the
        # updates of other tests' tables without replica identity fail).
        self.publication = self.slot + "_pub" if plugin == "pgoutput" else None
        if self.publication:
            with self.conn.cursor() as cur:
                cur.execute(f"CREATE PUBLICATION {self.publication} FOR TABLE {self.table}")
        # The test's own state directory: its pgeps share it, nothing else does.
        self.state_dir = tempfile.mkdtemp(prefix="pgep-state-")
        self._closers = []

    def redis(self, pattern):
        return self._keep(RedisSubscriber(pattern))

    def mqtt(self, topic, **options):
        return self._keep(MqttSubscriber(topic, **options))

    def amqp(self, exchange, binding_key):
        return self._keep(AmqpQueue(exchange, binding_key))

    def config(self, *upstreams, pgep="", database_extra="", state_dir=None):
        """The configuration text: [pgep] (the state directory, the test's unless `state_dir`
        says, as for a pgep on another host; then `pgep`), [database] with the slot (then
        `database_extra`), the upstreams."""
        if self.publication:
            database_extra = f"output_plugin = pgoutput\npublication = {self.publication}\n{database_extra}"
        return (f"[pgep]\nstate_directory = {state_dir or self.state_dir}\n{pgep}\n\n" +
                database(database_extra, slot=self.slot) +
                "".join(upstreams))

    def pgep(self, *upstreams, pgep="", database_extra="", bridges=None, state_dir=None):
        """A pgep (not started) for these upstreams, killed at the end of the test."""
        process = PgepProcess(self.config(*upstreams, pgep=pgep, database_extra=database_extra, state_dir=state_dir),
                              bridges=bridges or len(upstreams), notify=False)
        return self._keep(process, close=process.kill)

    def start(self, *upstreams, pgep="", database_extra="", bridges=None):
        """Starts a pgep and waits until it streams the slot."""
        process = self.pgep(*upstreams, pgep=pgep, database_extra=database_extra, bridges=bridges).start()
        process.wait_log(r"streaming the WAL from slot " + self.slot)
        return process

    def through_every_restart(self, bridge, service, started, count=3000):
        """Writes `count` rows while, in turn, the pgep streaming to `bridge` loses its worker
        (kill -9) once `started()`, scripts/services restarts `service`, and pgep itself is
        killed and started again; returns when every row is written."""
        from conftest import wait_until
        from helpers import RowWriter, services
        pgep = self.start(bridge)
        writer = RowWriter(self.table, count, 20, pause=0.01).start()  # about 5 s of rows
        wait_until(started, 60, what="the first rows at the broker")
        for pid in pgep.worker_pids():
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: writer.written >= count // 3, 60, what="a third of the rows written")
        services("stop", service)
        services("start", service)
        pgep.wait_log(r"broker (lost|unreachable)")
        wait_until(lambda: writer.written >= 2 * count // 3, 60, what="two thirds of the rows written")
        assert writer.written < count, "the rows were all written before pgep's restart"
        pgep.kill()
        self.start(bridge)
        writer.thread.join(120)
        assert writer.error is None, writer.error

    def close(self):
        for close in reversed(self._closers):
            close()
        self.conn.close()
        drop_slot(self.slot)
        if self.publication:  # on a connection of its own: a test may have restarted PostgreSQL
            with connect() as conn, conn.cursor() as cur:
                cur.execute(f"DROP PUBLICATION IF EXISTS {self.publication}")
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _keep(self, thing, close=None):
        self._closers.append(close or thing.close)
        return thing
