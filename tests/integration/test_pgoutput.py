"""output_plugin = pgoutput (issue 12): the WAL streamed through PostgreSQL's built-in plugin and a
publication, with the bodies wal2json format 2 writes. The parity test runs one workload through
both plugins at once (two slots, two pgeps) and compares the bodies byte for byte, after taking
out only the differences docs/pgoutput.md lists."""
import json
import os
import re
import shutil
import tempfile

import psycopg2
import pytest

from brokers import RedisSubscriber, unique
from conftest import ROOT, run, wait_until
from helpers import connect, database, drop_slot, insert_rows, redis_row_ids, upstream
from pgep_process import PgepProcess


def execute(sql, *args):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


class Streams:
    """Two pgeps on two slots of one database, wal2json's and pgoutput's, each to its own Redis
    topic; everything dropped at the end."""

    def __init__(self, name, params, tables):
        self.slot = unique(name)
        self.publication = self.slot + "_pub"
        self.subs = {}
        self.pgeps = []
        self.state = tempfile.mkdtemp(prefix="pgep-state-")
        execute(f"CREATE PUBLICATION {self.publication} FOR TABLE {', '.join(tables)}")
        for plugin in ("wal2json", "pgoutput"):
            topic = f"{self.slot}_{plugin}"
            self.subs[plugin] = RedisSubscriber(f"{topic}.*")
            extra = f"wal2json_params = {params}\noutput_plugin = {plugin}\npublication = {self.publication}\n"
            config = (f"[pgep]\nstate_directory = {self.state}\n\n" +
                      database(extra, slot=f"{self.slot}_{plugin[:3]}") +
                      upstream("cache", "redis", f"wal2json->topic:{topic}"))
            pgep = PgepProcess(config, bridges=1, notify=False)
            self.pgeps.append(pgep)
            pgep.start()
            pgep.wait_log(r"streaming the WAL from slot")

    def bodies(self, plugin, until):
        """The bodies received so far, once `until` (a predicate on them) holds."""
        sub = self.subs[plugin]
        return wait_until(lambda: (lambda got: until(got) and got)([b.decode() for _, b in list(sub.messages)]), 60,
                          what=f"the {plugin} stream")

    def close(self):
        for pgep in self.pgeps:
            pgep.kill()
        for sub in self.subs.values():
            sub.close()
        for plugin in ("wal2json", "pgoutput"):
            drop_slot(f"{self.slot}_{plugin[:3]}")
        execute(f"DROP PUBLICATION IF EXISTS {self.publication}")
        shutil.rmtree(self.state, ignore_errors=True)


def transactions(bodies, tables):
    """The records of `tables` (and logical messages), grouped by transaction; transactions
    with none of them (other tests', DDL) left out, as pgoutput leaves them out."""
    groups, current = [], None
    for body in bodies:
        record = json.loads(body)
        action = record["action"]
        if action == "B":
            current = [body]
        elif action == "C":
            if current and len(current) > 1:
                groups.append(current + [body])
            current = None
        elif record.get("table") in tables or action == "M":
            (current if current is not None else groups).append(body)
    return groups


# The differences docs/pgoutput.md lists, taken out before comparing.
def without_generated(body, generated):
    for name in generated:
        body = re.sub(r'\{"name":"' + name + r'"[^{}]*\},?', "", body).replace(",]", "]")
    return body


def without_pk_unless_default(body, tables_with_other_identity):
    if json.loads(body).get("table") not in tables_with_other_identity:
        return body
    return re.sub(r',"pk":\[.*\]\}$', ',"pk":[]}', body)


def without_unchanged(body):
    return re.sub(r',"unchanged":\[[^\]]*\]', "", body)


def first_difference(pgoutput, wal2json):
    at = next((i for i, (a, b) in enumerate(zip(pgoutput, wal2json)) if a != b), min(len(pgoutput), len(wal2json)))
    return (f"bodies differ at byte {at}:\n pgoutput: ...{pgoutput[max(0, at - 100):at + 100]!r}\n"
            f" wal2json: ...{wal2json[max(0, at - 100):at + 100]!r}")


WORKLOAD_TYPES = """
    id int PRIMARY KEY, s smallint, b bigint, n numeric(12,3), nn numeric, r real, d double precision,
    ok boolean, t text, vc varchar(20), c char(5), by bytea, j json, jb jsonb, ia int[], ta text[],
    vca varchar(7)[], ts timestamp(3), tz timestamptz, dt date, tm time(2), iv interval day to second(1),
    u uuid, m {mood}, p {posint}, g int GENERATED ALWAYS AS (id * 2) STORED, big text, nul text
"""


# Two shapes of body: every per-column option, and the per-record ones with bare table names.
PARITY_PARAMS = {
    "columns": "\"format-version\" '2', \"include-types\" '1', \"include-xids\" '1', \"include-pk\" '1', "
               "\"include-type-oids\" '1', \"include-timestamp\" '1'",
    "records": "\"format-version\" '2', \"include-types\" '1', \"include-lsn\" '1', \"include-schemas\" '0', "
               "\"include-domain-data-type\" '1'",
}


def with_nextlsn_unknown(body):
    """pgoutput's Begin does not know where the commit record ends."""
    return re.sub(r'^(\{"action":"B".*"nextlsn":)"[0-9A-F]+/[0-9A-F]+"', r'\1null', body)


@pytest.mark.parametrize("shape", sorted(PARITY_PARAMS))
def test_the_same_workload_gives_the_same_bodies_through_both_plugins(shape):
    name = unique("par")
    mood, posint = f"{name}_mood", f"{name}_posint"
    tables = {t: f"{name}_{t}" for t in ("dflt", "full", "idx", "noth")}
    execute(f"CREATE TYPE {mood} AS ENUM ('sad', 'ok', 'happy')")
    execute(f"CREATE DOMAIN {posint} AS integer CHECK (VALUE > 0)")
    for table in tables.values():
        execute(f"CREATE TABLE {table} ({WORKLOAD_TYPES.format(mood=mood, posint=posint)})")
    execute(f"ALTER TABLE {tables['full']} REPLICA IDENTITY FULL")
    execute(f"CREATE UNIQUE INDEX {tables['idx']}_u ON {tables['idx']} (u)")
    execute(f"ALTER TABLE {tables['idx']} ALTER COLUMN u SET NOT NULL")
    execute(f"ALTER TABLE {tables['idx']} REPLICA IDENTITY USING INDEX {tables['idx']}_u")
    execute(f"ALTER TABLE {tables['noth']} REPLICA IDENTITY NOTHING")
    params = PARITY_PARAMS[shape]
    streams = Streams(name, params, [t for k, t in tables.items() if k != "noth"] + [tables["noth"]])
    try:
        conn = psycopg2.connect(os.environ["PGEP_PG_URI"])
        conn.autocommit = True
        cur = conn.cursor()
        values = ("(%s, 1, 9007199254740993, 12.345, 'NaN', 'Infinity', '-Infinity', true, "
                  "E'quote \" backslash \\\\ newline \\n tab \\t bell \\x07 é ü 日本', 'varchar', 'ab', "
                  "'\\xdeadbeef', '{\"a\": [1, 2.5, null]}', '{\"b\": {\"c\": true}}', '{1,2,NULL}', "
                  "'{\"x y\",z}', '{a,b}', '2026-11-28 04:13:12.123', '2026-11-28 04:13:12.123456+05:30', "
                  "'2026-11-28', '04:13:12.12', '1 day 02:03:04.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
                  "'happy', 7, %s, NULL)")
        for key, table in tables.items():
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO {table} (id, s, b, n, nn, r, d, ok, t, vc, c, by, j, jb, ia, ta, vca, ts, tz, dt, "
                        f"tm, iv, u, m, p, big, nul) VALUES {values}", (1, "x" * 300000))
            cur.execute(f"INSERT INTO {table} (id, t, u) SELECT i, 'row ' || i, gen_random_uuid() "
                        "FROM generate_series(2, 4) i")  # multi-row
            cur.execute("SELECT pg_logical_emit_message(true, %s, 'transactional ' || %s)", (name, table))
            cur.execute("COMMIT")
        cur.execute("SELECT pg_logical_emit_message(false, %s, 'not transactional')", (name,))
        for key in ("dflt", "full", "idx"):
            table = tables[key]
            cur.execute(f"UPDATE {table} SET s = 2 WHERE id = 1")  # big unchanged and TOASTed
            cur.execute(f"UPDATE {table} SET id = 10, big = 'small now' WHERE id = 1")  # the key changes
            cur.execute(f"UPDATE {table} SET u = gen_random_uuid() WHERE id = 2")  # the index key changes
            cur.execute(f"DELETE FROM {table} WHERE id = 3")
        # A table without replica identity in a publication that publishes updates: PostgreSQL
        # refuses the update itself (docs/pgoutput.md).
        with pytest.raises(psycopg2.Error, match="replica identity"):
            cur.execute(f"UPDATE {tables['noth']} SET s = 3 WHERE id = 2")
        cur.execute(f"TRUNCATE {tables['dflt']}, {tables['full']}")
        conn.close()
        names = set(tables.values())
        expected_count = 4 + 1 + 3 * 4 + 1  # inserts' transactions, message, updates/deletes, truncate

        def complete(bodies):
            return len(transactions(bodies, names)) >= expected_count

        wal2json = transactions(streams.bodies("wal2json", complete), names)
        pgoutput = transactions(streams.bodies("pgoutput", complete), names)
        assert len(wal2json) == len(pgoutput) == expected_count
        for w, p in zip(wal2json, pgoutput):
            w = [with_nextlsn_unknown(without_pk_unless_default(without_generated(b, ["g"]),
                                                                {tables["full"], tables["idx"], tables["noth"]}))
                 for b in (w if isinstance(w, list) else [w])]
            p = [without_unchanged(b) for b in (p if isinstance(p, list) else [p])]
            assert len(p) == len(w), (p, w)
            for pb, wb in zip(p, w):
                assert pb == wb, first_difference(pb, wb)
        # What pgoutput says and wal2json does not: the unchanged TOASTed column, by name.
        flat = [b for group in pgoutput for b in (group if isinstance(group, list) else [group])]
        assert sum('"unchanged":["big"]' in b for b in flat) == 3
    finally:
        streams.close()
        for table in tables.values():
            execute(f"DROP TABLE IF EXISTS {table}")
        execute(f"DROP DOMAIN IF EXISTS {posint}")
        execute(f"DROP TYPE IF EXISTS {mood}")


def pgoutput_config(wal, *upstreams, publication=None, extra=""):
    return wal.config(*upstreams, database_extra=f"output_plugin = pgoutput\n"
                      f"publication = {publication or wal.slot + '_pub'}\n{extra}")


def start(wal, config, env=None):
    process = PgepProcess(config, bridges=1, notify=False, env=env)
    wal._keep(process, close=process.kill)
    return process.start()


@pytest.fixture
def publication(wal):
    """A publication of the test's table only (FOR ALL TABLES would make every UPDATE of a table
    without replica identity fail, in every other test), dropped at the end."""
    name = wal.slot + "_pub"
    execute(f"CREATE PUBLICATION {name} FOR TABLE {wal.table}")
    yield name
    execute(f"DROP PUBLICATION IF EXISTS {name}")


def allow_output_plugins(plugins):
    """Sets the test cluster's output_plugin_libraries (scripts/services mends and reloads)."""
    env = {k: v for k, v in os.environ.items() if k != "PGEP_PG_OUTPUT_PLUGINS"}
    if plugins:
        env["PGEP_PG_OUTPUT_PLUGINS"] = plugins
    done = run([os.path.join(ROOT, "scripts", "services"), "start", os.environ["PGEP_SERVICES_DIR"], "postgres"],
               env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: execute("SHOW output_plugin_libraries")[0][0] == (plugins or "pgoutput, test_decoding, wal2json"),
               10, what="the reloaded setting")


def test_a_server_that_refuses_wal2json_is_named_and_pgoutput_works_there(wal, publication):
    allow_output_plugins("pgoutput, test_decoding")
    try:
        refused = wal.pgep(upstream("cache", "redis", "wal2json->topic:wal")).start(wait_ready=False)
        assert refused.proc.wait(30) == 1
        log = refused.log_text()
        assert 'library "wal2json" may not be used as an output plugin' in log, log
        assert "add wal2json to that setting and reload the server, or set output_plugin = pgoutput" in log
        sub = wal.redis("po*")
        pgep = start(wal, pgoutput_config(wal, upstream("cache", "redis", "wal2json->topic:po"), publication=publication))
        pgep.wait_log(r"streaming the WAL from slot " + wal.slot + r" .*\(pgoutput, publication " + publication)
        insert_rows(wal.conn, wal.table, 0, 500, 100)
        wait_until(lambda: sorted(redis_row_ids(sub, wal.table)) == list(range(500)), 30, what="500 rows over pgoutput")
        assert [c for c, _ in sub.messages].count(b"po.begin") == 5
    finally:
        allow_output_plugins(None)


def test_pgep_creates_a_missing_publication_for_all_tables(wal):
    name = wal.slot + "_all"
    sub = wal.redis("mk*")
    pgep = None
    try:
        pgep = start(wal, pgoutput_config(wal, upstream("cache", "redis", "wal2json->topic:mk"), publication=name))
        pgep.wait_log(r"streaming the WAL from slot")
        assert f"creating the publication {name} FOR ALL TABLES" in pgep.log_text()
        assert execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", name) == [(True,)]
        insert_rows(wal.conn, wal.table, 0, 10, 10)
        wait_until(lambda: sorted(redis_row_ids(sub, wal.table)) == list(range(10)), 30, what="10 rows")
    finally:
        if pgep:
            pgep.kill()
        execute(f"DROP PUBLICATION IF EXISTS {name}")


def test_a_role_that_may_not_create_the_publication_is_shown_the_sql(wal):
    role = wal.slot + "_rep"
    execute(f"CREATE ROLE {role} LOGIN REPLICATION")
    try:
        uri = re.sub(r"postgresql://postgres@", f"postgresql://{role}@", os.environ["PGEP_PG_SOCKET_URI"])
        pgep = PgepProcess(pgoutput_config(wal, upstream("cache", "redis", "wal2json->topic:x"), publication=role),
                           notify=False, env={"PGPROXY_DATABASE-URI": uri})
        wal._keep(pgep, close=pgep.kill)
        pgep.start(wait_ready=False)
        assert pgep.proc.wait(30) == 1
        log = pgep.log_text()
        assert f"cannot create the publication {role} that output_plugin = pgoutput reads" in log, log
        assert f"CREATE PUBLICATION {role} FOR ALL TABLES;" in log
        assert execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", wal.slot) == [(0,)]
    finally:
        execute(f"DROP ROLE IF EXISTS {role}")


def test_a_slot_of_the_other_plugin_is_an_error_naming_both(wal, publication):
    execute("SELECT pg_create_logical_replication_slot(%s, 'wal2json')", wal.slot)
    pgep = PgepProcess(pgoutput_config(wal, upstream("cache", "redis", "wal2json->topic:x"), publication=publication),
                       notify=False)
    wal._keep(pgep, close=pgep.kill)
    pgep.start(wait_ready=False)
    assert pgep.proc.wait(30) == 1
    assert (f'the replication slot {wal.slot} uses the plugin "wal2json", but output_plugin is pgoutput; '
            "set output_plugin = wal2json, set replication_slot to another name") in pgep.log_text()
