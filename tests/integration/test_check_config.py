"""pgep --check-config: the nginx -t of pgep, run as a real process with real environments."""
import os
import tempfile

from conftest import clean_env, run

SEED_README_ENV = {
    "PGPROXY_LOCAL-POSTGRESQL_URI": "postgresql://username:password@domain.tld:5432/database",
    "PGPROXY_LOCAL-REPLICATION_SLOT": "my_replication_slot",
    "PGPROXY_LOCAL-WAL2JSON_PARAMS": "\\\"format-version\\\" '2' , \\\"include-types\\\" '1'",
    "PGPROXY_LOCAL-UPSTREAM": "amqp",
    "PGPROXY_LOCAL-UPSTREAM_CONFIG-URI": "amqp://user:pass@rabbitmq//",
    "PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS": "events->exchange:amq.topic, wal2json->exchange:amq.topic",
    "PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE": "1",
}


def check(pgep, env, *args):
    return run([pgep, "--check-config", *args], env=clean_env(**env))


def test_seed_readme_environment_prints_the_effective_configuration(pgep):
    result = check(pgep, SEED_README_ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[upstream.local]" in out
    assert "kind = amqp" in out
    assert "replication_slot = my_replication_slot" in out
    assert "wal2json_params = \"format-version\" '2', \"include-types\" '1'" in out
    assert "delivery_mode = 1" in out
    assert "uri = postgresql://username:****@domain.tld:5432/database" in out
    assert "uri = amqp://user:****@rabbitmq//" in out
    assert "password@" not in out and "pass@" not in out
    assert "# bridge local/wal2json->exchange:amq.topic: the WAL stream" in out


def test_seed_readme_mqtt_and_redis_examples(pgep):
    mqtt = dict(SEED_README_ENV)
    mqtt.update({
        "PGPROXY_LOCAL-UPSTREAM": "mqtt",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-URI": "tcp://mosquitto:1883",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS": "events->topic:events, wal2json->topic:wal",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-USERNAME": "username",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-PASSWORD": "password",
    })
    del mqtt["PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE"]
    result = check(pgep, mqtt)
    assert result.returncode == 0, result.stderr
    assert "password = ****" in result.stdout
    assert "password\n" not in result.stdout.replace("password = ****\n", "")

    redis = {k: v for k, v in mqtt.items() if "USERNAME" not in k and "PASSWORD" not in k}
    redis.update({"PGPROXY_LOCAL-UPSTREAM": "redis", "PGPROXY_LOCAL-UPSTREAM_CONFIG-URI": "redis://redis:6379"})
    result = check(pgep, redis)
    assert result.returncode == 0, result.stderr


def test_a_broken_variable_is_named_with_its_value_and_what_was_expected(pgep):
    broken = dict(SEED_README_ENV)
    broken["PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE"] = "3"
    result = check(pgep, broken)
    assert result.returncode == 1
    assert result.stdout == ""
    assert 'PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE = "3"' in result.stderr
    assert "expected 1 (non-persistent) or 2 (persistent)" in result.stderr
    assert "has 1 error" in result.stderr


def test_every_error_is_reported_in_one_run(pgep):
    broken = dict(SEED_README_ENV)
    broken["PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE"] = "3"
    broken["PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS"] = "events->topic:x"
    broken["PGPROXY_LOCAL-POSTGRESQL_URI"] = "postgresql://u:hunter2@h:notaport/db"
    result = check(pgep, broken)
    assert result.returncode == 1
    assert "PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE" in result.stderr
    assert "PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS" in result.stderr
    assert "PGPROXY_LOCAL-POSTGRESQL_URI" in result.stderr
    assert "hunter2" not in result.stderr
    assert "has 3 errors" in result.stderr


def test_file_and_environment_with_a_secret_file(pgep):
    with tempfile.TemporaryDirectory() as d:
        secret = os.path.join(d, "amqp_uri")
        with open(secret, "w") as f:
            f.write("amqp://pgep:s%40cret@rabbit:5672/%2Fprod\n")
        ini = os.path.join(d, "pgep.ini")
        with open(ini, "w") as f:
            f.write("[database]\nuri = postgresql://app@db/app\n\n"
                    "[upstream.bus]\nkind = amqp\nuri = amqp://guest:guest@localhost//\n"
                    "bridge_channels = events->exchange:amq.topic\n")
        result = check(pgep, {"PGPROXY_UPSTREAM-BUS-URI_FILE": secret,
                              "PGPROXY_UPSTREAM-BUS-DELIVERY_MODE": "2"}, ini)
        assert result.returncode == 0, result.stderr
        assert "uri = amqp://pgep:****@rabbit:5672/%2Fprod" in result.stdout
        assert "delivery_mode = 2" in result.stdout
        assert "s%40cret" not in result.stdout


def test_the_printed_configuration_is_itself_valid(pgep):
    with tempfile.TemporaryDirectory() as d:
        result = check(pgep, SEED_README_ENV)
        assert result.returncode == 0
        ini = os.path.join(d, "printed.ini")
        with open(ini, "w") as f:
            f.write(result.stdout)
        again = check(pgep, {}, ini)
        assert again.returncode == 0, again.stderr
        assert again.stdout.split("\n", 1)[1] == result.stdout.split("\n", 1)[1]


def test_a_missing_file_and_bad_arguments(pgep):
    result = check(pgep, {}, "/nonexistent/pgep.ini")
    assert result.returncode == 1
    assert "/nonexistent/pgep.ini: cannot read the configuration file" in result.stderr
    assert run([pgep, "--bogus"]).returncode == 2
    assert run([pgep, "-t", "a.ini", "b.ini"]).returncode == 2
    version = run([pgep, "--version"])
    assert version.returncode == 0 and version.stdout.startswith("pgep ")


def test_nothing_configured_says_what_is_missing(pgep):
    result = check(pgep, {})
    assert result.returncode == 1
    assert "[database] uri (PGPROXY_DATABASE-URI): missing" in result.stderr
    assert "no upstream is configured" in result.stderr


def test_wal2json_options_that_would_break_the_stream_are_refused(pgep):
    no_version = dict(SEED_README_ENV, **{"PGPROXY_LOCAL-WAL2JSON_PARAMS": "\"include-lsn\" '1'"})
    result = check(pgep, no_version)
    assert result.returncode == 1
    assert "\"format-version\" is missing: without it wal2json writes format 1" in result.stderr
    chunks = dict(SEED_README_ENV, **{"PGPROXY_LOCAL-WAL2JSON_PARAMS": "\"format-version\" '1', \"write-in-chunks\" '1'"})
    result = check(pgep, chunks)
    assert result.returncode == 1
    assert "\"write-in-chunks\" with format 1 splits a transaction's one message" in result.stderr


def test_the_original_aws_kinds_are_accepted_with_credentials_from_the_environment(pgep):
    seed = dict(SEED_README_ENV)
    seed.update({
        "PGPROXY_LOCAL-UPSTREAM": "awssns",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-URI": "",
        "PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS":
            "events->topic:arn:aws:sns:eu-west-1:123456789012:events, wal2json->topic:arn:aws:sns:eu-west-1:123456789012:wal",
        "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
    })
    del seed["PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE"]
    result = check(pgep, seed)
    assert result.returncode == 0, result.stderr
    assert "kind = awssns" in result.stdout
    assert "uri = https://sns.eu-west-1.amazonaws.com" in result.stdout
    assert "wJalrXUtnFEMI" not in result.stdout and "secret_access_key = ****" in result.stdout

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pgep.ini")
        with open(path, "w") as f:
            f.write("[database]\nuri = postgresql://u@h/db\n"
                    "[upstream.queue]\nkind = awssqs\nregion = us-east-2\naccess_key_id = AKID\nsecret_access_key = s\n"
                    "bridge_channels = jobs->queue:https://sqs.us-east-2.amazonaws.com/123456789012/jobs.fifo\n"
                    "[upstream.fn]\nkind = awslambda\nendpoint = http://localhost:4566\nregion = us-east-1\n"
                    "access_key_id = test\nsecret_access_key = test\nbridge_channels = hooks->function:on-hook\n")
        result = check(pgep, {}, path)
        assert result.returncode == 0, result.stderr
        assert "uri = http://localhost:4566" in result.stdout
