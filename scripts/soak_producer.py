"""scripts/soak's producer: rows, durable messages and NOTIFYs, and what certainly committed."""
import os
import random
import threading
import time

import psycopg2


def connect(dsn=None):
    conn = psycopg2.connect(dsn or os.environ["PGEP_PG_URI"], connect_timeout=5)
    conn.autocommit = True
    return conn


def connect_retrying(timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect()
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Producer(threading.Thread):
    """Rows in transactions of 1 to 200, durable messages in transactions of 1 to 20, and
    NOTIFYs. What certainly committed is recorded; a commit whose answer was lost (PostgreSQL
    restarted under it) is looked up afterwards for rows, and set aside for durable messages
    (they may be delivered and deleted before anyone can look)."""

    def __init__(self, run, pause, seed):
        super().__init__(daemon=True)
        self.run_, self.pause, self.rng = run, pause, random.Random(seed)
        self.stop = threading.Event()
        self.rows = set()
        self.durable = set()
        self.durable_unsure = set()
        self.notify = 0
        self.next_row = 0
        self.next_message = 0
        self.error = None

    def run(self):
        conn = connect_retrying()
        while not self.stop.is_set():
            try:
                choice = self.rng.random()
                if choice < 0.75:
                    self.write_rows(conn)
                elif choice < 0.95:
                    self.write_durable(conn)
                else:
                    self.write_notify(conn)
                time.sleep(self.rng.random() * self.pause)
            except psycopg2.Error:
                try:
                    conn.close()
                except Exception:
                    pass
                try:
                    conn = connect_retrying()
                except Exception as e:
                    self.error = e
                    return
        conn.close()

    def write_rows(self, conn):
        size = self.rng.randint(1, 200)
        first = self.next_row
        self.next_row += size
        try:
            with conn.cursor() as cur:
                cur.execute(f"INSERT INTO {self.run_.table} SELECT i, 'row ' || i FROM generate_series(%s, %s) i",
                            (first, first + size - 1))
            self.rows.update(range(first, first + size))
        except psycopg2.OperationalError:
            self.rows.update(self.committed_rows(first, size))  # the answer was lost, not the rows
            raise

    def committed_rows(self, first, size):
        conn = connect_retrying()
        with conn.cursor() as cur:
            cur.execute(f"SELECT id FROM {self.run_.table} WHERE id BETWEEN %s AND %s", (first, first + size - 1))
            found = {row[0] for row in cur.fetchall()}
        conn.close()
        return found

    def write_durable(self, conn):
        size = self.rng.randint(1, 20)
        bodies = [f"d-{self.next_message + i}" for i in range(size)]
        self.next_message += size
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                for body in bodies:
                    cur.execute("SELECT events.send_message(%s, %s, %s, true)", (self.run_.channel, body, self.run_.key))
                cur.execute("COMMIT")
            self.durable.update(bodies)
        except psycopg2.OperationalError:
            self.durable_unsure.update(bodies)
            raise

    def write_notify(self, conn):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, %s)", (self.run_.channel, f"{self.run_.key}|n-{self.notify}"))
        self.notify += 1


