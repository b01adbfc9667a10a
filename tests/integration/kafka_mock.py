"""The tests' Kafka: librdkafka's mock cluster (build/pgep-kafka-mock, tests/kafka/mock_cluster.cc),
three brokers speaking the real Kafka protocol on loopback, with its fault injection; and a
consumer (python3-confluent-kafka, Debian's) that reads a topic's partitions from the start."""
import os
import subprocess

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from conftest import wait_until

PRODUCE = 0  # the Kafka API key of Produce, for errors()


class KafkaMock:
    def __init__(self):
        self.proc = subprocess.Popen([os.path.join(os.environ["PGEP_BUILD"], "pgep-kafka-mock")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, "the mock cluster did not start"
        self.uri = "kafka://" + self.bootstrap

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", f"{line}: {answer}"

    def topic(self, name, partitions=3):
        self.command(f"topic {name} {partitions}")

    def errors(self, api, code, count):
        self.command(f"errors {api} {code} {count}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)


class KafkaReader:
    """Every message of `topic` (all its partitions, from the start)."""

    def __init__(self, mock, topic, partitions=3):
        self.consumer = Consumer({"bootstrap.servers": mock.bootstrap, "group.id": "pgep-test-" + topic,
                                  "enable.auto.commit": False, "log_level": 3})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self.messages = []

    def read(self, count, timeout=60, distinct=lambda m: dict(m.headers())["pgep-id"]):
        """Reads until `count` distinct messages (by pgep-id) arrived; returns every message read."""
        def enough():
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None:
                self.messages.append(message)
            return len({distinct(m) for m in self.messages}) >= count
        wait_until(enough, timeout, interval=0, what=f"{count} distinct Kafka messages")
        return self.messages

    def close(self):
        self.consumer.close()
