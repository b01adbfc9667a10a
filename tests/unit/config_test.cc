// Configuration: both formats, the environment over the file, defaults, and every error path
// naming its key (secrets: config_secrets_test.cc).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "shared/config_options.h"
#include "shared/pgoutput_body_options.h"
#include "tests/unit/config_helpers.h"

using namespace pgep::test;  // load, messages, upstream, kMulti, ...

namespace {

// The seed's README example, as environment variables.
Env seed_env() {
  return {{"PGPROXY_LOCAL-POSTGRESQL_URI", "postgresql://username:password@domain.tld:5432/database"},
          {"PGPROXY_LOCAL-UPSTREAM", "amqp"},
          {"PGPROXY_LOCAL-UPSTREAM_CONFIG-URI", "amqp://user:pass@rabbitmq//"},
          {"PGPROXY_LOCAL-UPSTREAM_CONFIG-BRIDGE_CHANNELS",
           "events->exchange:amq.topic, wal2json->exchange:amq.topic"},
          {"PGPROXY_LOCAL-UPSTREAM_CONFIG-DELIVERY_MODE", "1"}};
}

}  // namespace

TEST_CASE("the multi-upstream format loads every upstream with its defaults") {
  auto r = load(kMulti);
  INFO(messages(r));
  REQUIRE(r.ok());
  REQUIRE(r.config.upstreams.size() == 3);
  CHECK(r.config.database.uri == "postgres://user:pass@localhost:5432/app");
  CHECK(r.config.database.replication_slot == "pg_event_proxy");
  CHECK(pgep::wal2json_format_version(r.config.database.wal2json_params) == 2);
  const auto* amqp = upstream(r, "myamqp");
  REQUIRE(amqp);
  CHECK(amqp->kind == pgep::UpstreamKind::Amqp);
  CHECK(amqp->options.at("delivery_mode") == "1");
  CHECK(amqp->options.at("content_type") == "text/plain");
  REQUIRE(amqp->bridges.size() == 1);
  CHECK(amqp->bridges[0].text() == "amqpchannel->exchange:amq.topic");
  CHECK(upstream(r, "mymqtt")->options.at("qos") == "1");
  CHECK(upstream(r, "myredis")->kind == pgep::UpstreamKind::Redis);
  CHECK(r.config.daemon.log_level == pgep::LogLevel::Info);
  CHECK(r.config.daemon.ledger_max_bytes == 16u << 20);
  CHECK(r.config.daemon.shutdown_timeout_ms == 10000);
}

TEST_CASE("the seed format maps [local] onto database and an upstream named local") {
  auto r = load(R"(
[local]
postgresql_uri = postgresql://user:pass@host:5432/db
upstream = mqtt
replication_slot = my_slot
wal2json_params = "format-version" '1'
[local.upstream_config]
uri = tcp://mosquitto:1883
bridge_channels = events->topic:events, wal2json->topic:wal
username = bob
password = secret
)");
  INFO(messages(r));
  REQUIRE(r.ok());
  CHECK(r.config.database.uri == "postgresql://user:pass@host:5432/db");
  CHECK(r.config.database.replication_slot == "my_slot");
  CHECK(pgep::wal2json_format_version(r.config.database.wal2json_params) == 1);
  const auto* local = upstream(r, "local");
  REQUIRE(local);
  CHECK(local->kind == pgep::UpstreamKind::Mqtt);
  CHECK(local->options.at("username") == "bob");
  REQUIRE(local->bridges.size() == 2);
  CHECK(local->bridges[1].is_wal());
}

TEST_CASE("the seed's README environment alone is a complete configuration") {
  auto r = load("", seed_env());
  INFO(messages(r));
  REQUIRE(r.ok());
  const auto* local = upstream(r, "local");
  REQUIRE(local);
  CHECK(local->uri == "amqp://user:pass@rabbitmq//");
  CHECK(local->bridges.size() == 2);
}

TEST_CASE("the seed's escaped wal2json_params from the environment are accepted") {
  Env env = seed_env();
  env.emplace_back("PGPROXY_LOCAL-WAL2JSON_PARAMS", "\\\"format-version\\\" '2' , \\\"include-types\\\" '1'");
  auto r = load("", env);
  INFO(messages(r));
  REQUIRE(r.ok());
  REQUIRE(r.config.database.wal2json_params.size() == 2);
  CHECK(r.config.database.wal2json_params[1].name == "include-types");
  CHECK(r.config.database.wal2json_params[1].value == "1");
}

TEST_CASE("output_plugin and publication, in both formats and from the environment") {
  auto multi = load(kMulti);
  REQUIRE(multi.ok());
  CHECK(multi.config.database.output_plugin == pgep::OutputPlugin::Wal2json);
  CHECK(multi.config.database.publication == "pgep");
  Env env = seed_env();
  env.emplace_back("PGPROXY_LOCAL-OUTPUT_PLUGIN", "pgoutput");
  env.emplace_back("PGPROXY_LOCAL-PUBLICATION", "events_pub");
  auto seed = load("", env);
  INFO(messages(seed));
  REQUIRE(seed.ok());
  CHECK(seed.config.database.output_plugin == pgep::OutputPlugin::Pgoutput);
  CHECK(seed.config.database.publication == "events_pub");
  auto from_database = load(kMulti, {{"PGPROXY_DATABASE-OUTPUT_PLUGIN", "pgoutput"}});
  CHECK(from_database.config.database.output_plugin == pgep::OutputPlugin::Pgoutput);
  auto wrong = load(kMulti, {{"PGPROXY_DATABASE-OUTPUT_PLUGIN", "decoderbufs"},
                             {"PGPROXY_DATABASE-PUBLICATION", "Bad Name"}});
  INFO(messages(wrong));
  CHECK(has_error(wrong, "OUTPUT_PLUGIN", "expected wal2json or pgoutput"));
  CHECK(has_error(wrong, "PUBLICATION", "not a valid name"));
}

TEST_CASE("with pgoutput, wal2json_params it cannot honour are refused with the reason") {
  auto with = [](const std::string& params) {
    return load(kMulti, {{"PGPROXY_DATABASE-OUTPUT_PLUGIN", "pgoutput"}, {"PGPROXY_DATABASE-WAL2JSON_PARAMS", params}});
  };
  CHECK(with("\"format-version\" '2', \"include-pk\" 'on', \"filter-tables\" 'public.a, *.b', \"actions\" 'insert'").ok());
  CHECK(has_error(with("\"format-version\" '1'"), "WAL2JSON_PARAMS", "pgoutput writes format 2 bodies only"));
  CHECK(has_error(with("\"format-version\" '2', \"include-not-null\" '1'"), "WAL2JSON_PARAMS",
                  "\"include-not-null\" cannot be used with output_plugin = pgoutput: pgoutput does not send whether"));
  CHECK(has_error(with("\"format-version\" '2', \"include-xids\" 'maybe'"), "WAL2JSON_PARAMS", "is not a boolean"));
  CHECK(has_error(with("\"format-version\" '2', \"actions\" 'insert, upsert'"), "WAL2JSON_PARAMS",
                  "cannot be read as wal2json reads it"));
  CHECK(has_error(with("\"format-version\" '2', \"filter-tables\" 'nodot'"), "WAL2JSON_PARAMS",
                  "cannot be read as wal2json reads it"));
  std::string error;
  auto options = pgep::pgoutput_body_options(
      {{"format-version", "2"}, {"filter-tables", "public.a\\.b, *.skip"}, {"add-tables", "public.*"}}, error);
  REQUIRE(options);
  CHECK_FALSE(options->wants_table("public", "a.b"));
  CHECK_FALSE(options->wants_table("other", "skip"));
  CHECK_FALSE(options->wants_table("other", "kept"));  // add-tables: public only
  CHECK(options->wants_table("public", "kept"));
}

TEST_CASE("the environment overrides the file, in both formats") {
  auto r = load(kMulti, {{"PGPROXY_UPSTREAM-MYAMQP-DELIVERY_MODE", "2"},
                         {"PGPROXY_DATABASE-URI", "postgresql://other@db/x"},
                         {"PGPROXY_PGEP-LOG_LEVEL", "debug"}});
  INFO(messages(r));
  REQUIRE(r.ok());
  CHECK(upstream(r, "myamqp")->options.at("delivery_mode") == "2");
  CHECK(r.config.database.uri == "postgresql://other@db/x");
  CHECK(r.config.daemon.log_level == pgep::LogLevel::Debug);

  auto seed = load("[local]\npostgresql_uri = postgresql://a@b/c\nupstream = redis\n"
                   "[local.upstream_config]\nuri = redis://r\nbridge_channels = a->topic:b\n",
                   {{"PGPROXY_LOCAL-UPSTREAM_CONFIG-URI", "redis://other:6380/2"}});
  INFO(messages(seed));
  REQUIRE(seed.ok());
  CHECK(upstream(seed, "local")->uri == "redis://other:6380/2");
}

TEST_CASE("an upstream can come from the environment alone, its name lower-cased") {
  auto r = load("[database]\nuri = postgresql://a@b/c\n",
                {{"PGPROXY_UPSTREAM-MYREDIS-KIND", "redis"},
                 {"PGPROXY_UPSTREAM-MYREDIS-URI", "redis://h"},
                 {"PGPROXY_UPSTREAM-MYREDIS-BRIDGE_CHANNELS", "a->topic:b"},
                 {"UNRELATED", "x"}});
  INFO(messages(r));
  REQUIRE(r.ok());
  REQUIRE(upstream(r, "myredis"));
}

TEST_CASE("every error is reported at once, each naming its key, value and expectation") {
  auto r = load(R"(
[pgep]
log_level = loud
ledger_max_events = 0
ledger_max_bytes = lots
shutdown_timeout = 5 fortnights
metrics_listen = nowhere
bogus = 1
[database]
uri = mysql://x
replication_slot = Bad-Slot
wal2json_params = "format-version" '3'
[upstream.a]
kind = amqp
uri = http://host
bridge_channels = x->topic:y
delivery_mode = 3
declare = maybe
[upstream.m]
kind = mqtt
uri = mqtt://h
bridge_channels = c->topic:a/#
qos = 3
keepalive = 0
[upstream.s]
kind = awssns
uri = aws://x
bridge_channels = a->topic:b
)");
  INFO(messages(r));
  CHECK(has_error(r, "log_level", "expected error, warn, info or debug"));
  CHECK(has_error(r, "ledger_max_events", "expected a number of events from 1"));
  CHECK(has_error(r, "ledger_max_bytes", "\"lots\""));
  CHECK(has_error(r, "shutdown_timeout", "expected a duration"));
  CHECK(has_error(r, "metrics_listen", "not host:port"));
  CHECK(has_error(r, "bogus", "unknown key; expected one of control_socket"));
  CHECK(has_error(r, "[database] uri", "mysql://x"));
  CHECK(has_error(r, "replication_slot", "not a valid name"));
  CHECK(has_error(r, "wal2json_params", "\"format-version\" must be '1' or '2'"));
  CHECK(has_error(r, "[upstream.a] uri", "scheme http:// is not one a amqp upstream accepts"));
  CHECK(has_error(r, "[upstream.a] bridge_channels", "kind \"topic\" is not one an amqp upstream accepts"));
  CHECK(has_error(r, "delivery_mode", "expected 1 (non-persistent) or 2 (persistent)"));
  CHECK(has_error(r, "declare", "not a boolean"));
  CHECK(has_error(r, "[upstream.m] bridge_channels", "wildcards"));
  CHECK(has_error(r, "qos", "expected 0, 1 or 2"));
  CHECK(has_error(r, "keepalive", "from 1s to 1h"));
  CHECK(has_error(r, "[upstream.s] uri", "scheme aws:// is not one a awssns upstream accepts (expected http:// or https://)"));
  CHECK(has_error(r, "[upstream.s] bridge_channels", "an SNS topic must be its ARN"));
  CHECK(has_error(r, "[upstream.s] region", "missing; expected an AWS region"));
  CHECK(has_error(r, "[upstream.s] access_key_id", "missing; expected it here (or AWS_ACCESS_KEY_ID"));
  CHECK(has_error(r, "[upstream.s] secret_access_key", "missing"));
  CHECK(r.errors.size() == 21);
}

TEST_CASE("missing keys are named as the user would write them, with their variable") {
  auto multi = load("[upstream.a]\nkind = amqp\n");
  INFO(messages(multi));
  CHECK(has_error(multi, "[database] uri (PGPROXY_DATABASE-URI)", "missing"));
  CHECK(has_error(multi, "[upstream.a] uri (PGPROXY_UPSTREAM-A-URI)", "missing"));
  CHECK(has_error(multi, "[upstream.a] bridge_channels", "missing"));

  auto seed = load("[local]\nupstream = amqp\n");
  INFO(messages(seed));
  CHECK(has_error(seed, "[local] postgresql_uri (PGPROXY_LOCAL-POSTGRESQL_URI)", "missing"));
  CHECK(has_error(seed, "[local.upstream_config] uri (PGPROXY_LOCAL-UPSTREAM_CONFIG-URI)", "missing"));

  auto kindless = load("[database]\nuri = postgresql://a@b/c\n[upstream.x]\nuri = redis://h\n");
  CHECK(has_error(kindless, "[upstream.x] kind", "missing; expected amqp, mqtt, redis, webhook, awssns, awssqs, awslambda, nats or kafka"));
}

TEST_CASE("a PostgreSQL URI with a bad port is caught before connecting") {
  auto r = load("[database]\nuri = postgresql://u@h1:5432,h2:x/db\n" +
                kRedisUpstream);
  CHECK(has_error(r, "[database] uri", "bad port \"5432,x\""));
  auto ok = load("[database]\nuri = host=/run/pg port=5433 dbname=app\n" +
                 kRedisUpstream);
  INFO(messages(ok));
  CHECK(ok.ok());
}

TEST_CASE("no upstream at all is an error") {
  auto r = load("[database]\nuri = postgresql://a@b/c\n");
  CHECK(has_error(r, "", "no upstream is configured"));
}

TEST_CASE("mixing the two formats is an error") {
  auto r = load(std::string(kMulti), {{"PGPROXY_LOCAL-UPSTREAM", "redis"}});
  CHECK(has_error(r, "", "mixes the seed format"));
}

TEST_CASE("unknown sections, bad upstream names and malformed variables are errors") {
  auto r = load(std::string(kMulti) + "[upstream.Bad Name]\nkind = redis\n[datbase]\nuri = x\n",
                {{"PGPROXY_ONLYSECTION", "x"}, {"PGPROXY_A--B", "y"}});
  INFO(messages(r));
  CHECK(has_error(r, "[datbase]", "unknown section"));
  CHECK(has_error(r, "[upstream.bad name]", "is not 1 to 64 lower-case letters"));
  CHECK(has_error(r, "PGPROXY_ONLYSECTION", "expected PGPROXY_SECTION-KEY"));
  CHECK(has_error(r, "PGPROXY_A--B", "expected PGPROXY_SECTION-KEY"));
}

TEST_CASE("INI syntax: duplicates, keys outside sections, long lines, comments, continuations") {
  auto dup = load(std::string(kMulti) + "qos = 2\nqos = 0\n");
  CHECK(has_error(dup, "[upstream.mymqtt] qos", "given twice in the file (first on line"));

  auto outside = load("orphan = 1\n" + std::string(kMulti));
  CHECK(has_error(outside, "orphan", "outside any section"));

  auto syntax = load(std::string(kMulti) + "this is not ini\n");
  CHECK(has_error(syntax, "", "not a [section], key = value"));

  auto longline = load(std::string(kMulti) + "client_id = " + std::string(250, 'x') + "\n");
  CHECK(has_error(longline, "", "longer than"));

  auto commented = load(R"(
[database]
uri = postgresql://a@b/c   # an inline comment
; a comment line
# another
[upstream.r]
kind = redis  ; inih's own inline comment
uri = redis://h
bridge_channels = a->topic:one,
    b->topic:two,
    c->topic:three
)");
  INFO(messages(commented));
  REQUIRE(commented.ok());
  CHECK(commented.config.database.uri == "postgresql://a@b/c");
  CHECK(upstream(commented, "r")->bridges.size() == 3);
}

TEST_CASE("mqtt credentials in both the URI and the options are an error") {
  auto r = load(std::string(kMulti) + "username = other\n");
  CHECK(has_error(r, "[upstream.mymqtt] username", "also given in [upstream.mymqtt] uri"));
}

TEST_CASE("TLS files with a plain scheme, and unreadable TLS files, are errors") {
  auto r = load(std::string(kMulti) + "tls_ca_file = /etc/hostname\n");
  CHECK(has_error(r, "tls_ca_file", "does not use TLS"));
  auto missing = load(R"(
[database]
uri = postgresql://a@b/c
[upstream.a]
kind = amqp
uri = amqps://h
bridge_channels = a->queue:q
tls_ca_file = /nonexistent.pem
)");
  CHECK(has_error(missing, "tls_ca_file", "cannot be read"));
}

TEST_CASE("state_table: a table name, and not with state_file") {
  const std::string rest = "[database]\nuri = postgresql://a@b/c\n[upstream.r]\nkind = redis\nuri = redis://h\n"
                           "bridge_channels = a->topic:b\n";
  auto plain = load("[pgep]\nstate_table = ops.pgep_state\n" + rest);
  REQUIRE(plain.ok());
  CHECK(plain.config.daemon.state_table == "ops.pgep_state");
  CHECK(has_error(load("[pgep]\nstate_table = Pgep-State\n" + rest), "state_table", "not a valid table name"));
  CHECK(has_error(load("[pgep]\nstate_table = a.b.c\n" + rest), "state_table", "not a valid table name"));
  CHECK(has_error(load("[pgep]\nstate_table = t\nstate_file = /var/lib/x.state\n" + rest), "state_table",
                  "a file or a table, not both"));
}

TEST_CASE("redis URIs: database number, no TLS") {
  auto bad_db = load("[database]\nuri = postgresql://a@b/c\n[upstream.r]\nkind = redis\n"
                     "uri = redis://h/zero\nbridge_channels = a->topic:b\n");
  CHECK(has_error(bad_db, "uri", "must be a database number"));
  auto tls = load("[database]\nuri = postgresql://a@b/c\n[upstream.r]\nkind = redis\n"
                  "uri = rediss://h\nbridge_channels = a->topic:b\n");
  CHECK(has_error(tls, "uri", "rediss:// (TLS) is not supported"));
}

TEST_CASE("the printed configuration loads again to the same configuration") {
  auto r = load(kMulti, {{"PGPROXY_PGEP-LEDGER_MAX_EVENTS", "500"}});
  REQUIRE(r.ok());
  std::string printed = pgep::format_config(r.config);
  // Put the masked passwords back, as a reader of the printout would.
  for (size_t at = printed.find("****"); at != std::string::npos; at = printed.find("****")) {
    printed.replace(at, 4, "pass");
  }
  auto again = load(printed);
  INFO(printed << messages(again));
  REQUIRE(again.ok());
  CHECK(pgep::format_config(again.config) == pgep::format_config(r.config));
  CHECK(again.config.daemon.ledger_max_events == 500);
}

TEST_CASE("the control socket's and state directory's defaults depend on systemd, the user and XDG") {
  pgep::ConfigInput root{"", {}, 0};
  auto as_root = pgep::load_config_text(kMulti, "t", root);
  CHECK(as_root.config.daemon.control_socket == "/run/pgep/pgep.sock");
  pgep::ConfigInput user{"", {{"XDG_RUNTIME_DIR", "/run/user/1000"}}, 1000};
  CHECK(pgep::load_config_text(kMulti, "t", user).config.daemon.control_socket ==
        "/run/user/1000/pgep.sock");
  pgep::ConfigInput home{"", {{"HOME", "/home/ops"}}, 1000};
  auto at_home = pgep::load_config_text(kMulti, "t", home);
  CHECK(at_home.config.daemon.state_directory == "/home/ops/.local/state/pgep");
  CHECK(at_home.config.daemon.control_socket == "/home/ops/.local/state/pgep/pgep.sock");
  pgep::ConfigInput unit{"", {{"RUNTIME_DIRECTORY", "/run/pgep"}, {"STATE_DIRECTORY", "/var/lib/pgep:/var/lib/x"},
                              {"HOME", "/nonexistent"}}, 110};
  auto under_systemd = pgep::load_config_text(kMulti, "t", unit);
  CHECK(under_systemd.config.daemon.control_socket == "/run/pgep/pgep.sock");
  CHECK(under_systemd.config.daemon.state_directory == "/var/lib/pgep");
  pgep::ConfigInput bare{"", {}, 1000};
  auto nowhere = pgep::load_config_text(kMulti, "t", bare);
  REQUIRE(nowhere.errors.size() == 1);
  CHECK(nowhere.errors[0].to_string().find("state_directory") != std::string::npos);
  CHECK(nowhere.errors[0].to_string().find("neither XDG_STATE_HOME nor HOME") != std::string::npos);
}

TEST_CASE("a missing configuration file is named") {
  pgep::ConfigInput input{"/nonexistent/pgep.ini", {}, 1000};
  auto r = pgep::load_config(input);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].to_string().find("/nonexistent/pgep.ini") != std::string::npos);
}

TEST_CASE("a webhook upstream: http(s) only, its headers checked, its secrets kept out of the printout") {
  auto good = load(R"(
[database]
uri = postgresql://u@h/db
[upstream.hooks]
kind = webhook
uri = https://example.invalid/base
bridge_channels = signups->path:/signup
secret = abc
headers = X-Source: pgep; Authorization: Bearer t0ken
)");
  INFO(messages(good));
  REQUIRE(good.errors.empty());
  const auto* hooks = upstream(good, "hooks");
  REQUIRE(hooks);
  CHECK(hooks->kind == pgep::UpstreamKind::Webhook);
  CHECK(hooks->options.at("max_in_flight") == "100");
  CHECK(hooks->options.at("content_type") == "application/json");
  auto headers = pgep::parse_header_list(hooks->options.at("headers"));
  REQUIRE(headers.size() == 2);
  CHECK(headers[1] == std::make_pair(std::string("Authorization"), std::string("Bearer t0ken")));

  auto bad = load(R"(
[database]
uri = postgresql://u@h/db
[upstream.hooks]
kind = webhook
uri = amqp://example.invalid
bridge_channels = signups->topic:x
headers = no colon here
)");
  INFO(messages(bad));
  CHECK(has_error(bad, "[upstream.hooks] uri", "expected http:// or https://"));
  CHECK(has_error(bad, "[upstream.hooks] bridge_channels", "expected path"));
  CHECK(has_error(bad, "headers", "is not Name: value"));
}

TEST_CASE("the AWS kinds: the original's upstreams, credentials from the standard variables, the region's endpoint") {
  const char* text = R"(
[database]
uri = postgresql://u@h/db
[upstream.sns]
kind = awssns
bridge_channels = events->topic:arn:aws:sns:eu-west-1:123456789012:events.fifo
[upstream.sqs]
kind = awssqs
endpoint = http://localhost:4566
region = us-east-2
bridge_channels = events->queue:http://localhost:4566/000000000000/jobs
[upstream.fn]
kind = awslambda
access_key_id = AKIDOPTION
secret_access_key = from-the-option
bridge_channels = events->function:arn:aws:lambda:eu-west-1:123456789012:function:on-event
invocation_type = RequestResponse
)";
  std::string key_file = "/tmp/pgep-config-test-aws-secret";
  {
    std::FILE* f = std::fopen(key_file.c_str(), "w");
    REQUIRE(f);
    std::fputs("from-a-file\n", f);
    std::fclose(f);
  }
  auto r = load(text, {{"AWS_REGION", "eu-west-1"}, {"AWS_ACCESS_KEY_ID", "AKIDVARIABLE"},
                       {"AWS_SECRET_ACCESS_KEY_FILE", key_file}, {"AWS_SESSION_TOKEN", "token"}});
  std::remove(key_file.c_str());
  INFO(messages(r));
  REQUIRE(r.errors.empty());
  const auto* sns = upstream(r, "sns");
  REQUIRE(sns);
  CHECK(sns->kind == pgep::UpstreamKind::AwsSns);
  CHECK(sns->uri == "https://sns.eu-west-1.amazonaws.com");
  CHECK(sns->options.at("region") == "eu-west-1");
  CHECK(sns->options.at("access_key_id") == "AKIDVARIABLE");
  CHECK(sns->options.at("secret_access_key") == "from-a-file");
  CHECK(sns->options.at("session_token") == "token");
  CHECK(sns->options.at("batch") == "10");
  CHECK(sns->bridges[0].target == "arn:aws:sns:eu-west-1:123456789012:events.fifo");
  const auto* sqs = upstream(r, "sqs");
  REQUIRE(sqs);
  CHECK(sqs->uri == "http://localhost:4566");
  CHECK(sqs->options.at("region") == "us-east-2");
  const auto* fn = upstream(r, "fn");
  REQUIRE(fn);
  CHECK(fn->uri == "https://lambda.eu-west-1.amazonaws.com");
  CHECK(fn->options.at("access_key_id") == "AKIDOPTION");
  CHECK(fn->options.at("secret_access_key") == "from-the-option");
  CHECK(fn->options.at("invocation_type") == "RequestResponse");

  auto bad = load(R"(
[database]
uri = postgresql://u@h/db
[upstream.sqs]
kind = awssqs
uri = https://a.example
endpoint = https://b.example
region = EU West
bridge_channels = events->queue:jobs, other->topic:x
)", {{"AWS_ACCESS_KEY_ID", "AKID"}});
  INFO(messages(bad));
  CHECK(has_error(bad, "endpoint", "set beside uri"));
  CHECK(has_error(bad, "region", "not a region name"));
  CHECK(has_error(bad, "secret_access_key", "AWS_SECRET_ACCESS_KEY_FILE"));
  CHECK(has_error(bad, "bridge_channels", "an SQS queue must be its URL"));
  CHECK(has_error(bad, "bridge_channels", "kind \"topic\" is not one an awssqs upstream accepts (expected queue (the queue's URL))"));
}

TEST_CASE("nats and kafka upstreams: their URIs, targets and options") {
  auto good = load(R"(
[database]
uri = postgresql://u@h/db
[upstream.bus]
kind = nats
uri = tls://user:pw@nats.example.com
bridge_channels = events->subject:events.in, wal2json->subject:cdc
declare = true
[upstream.log]
kind = kafka
uri = kafka://k1:9092, k2, [::1]:9093
bridge_channels = wal2json->topic:cdc.rows_v1
key = id
properties = security.protocol=SASL_SSL; sasl.password=secret
)");
  INFO(messages(good));
  REQUIRE(good.errors.empty());
  CHECK(upstream(good, "bus")->kind == pgep::UpstreamKind::Nats);
  CHECK(upstream(good, "bus")->bridges[0].kind == pgep::TargetKind::Subject);
  CHECK(upstream(good, "log")->bridges[0].kind == pgep::TargetKind::KafkaTopic);
  std::string error;
  CHECK(pgep::kafka_bootstrap_servers(upstream(good, "log")->uri, error) == "k1:9092,k2:9092,[::1]:9093");

  auto bad = load(R"(
[database]
uri = postgresql://u@h/db
[upstream.bus]
kind = nats
uri = nats://h
bridge_channels = a->subject:events.*, b->subject:a..b, c->topic:x
[upstream.log]
kind = kafka
uri = kafka://k1:99999
bridge_channels = a->topic:bad/name
key = partition
)");
  INFO(messages(bad));
  CHECK(has_error(bad, "[upstream.bus] bridge_channels", "may not hold the wildcards * or >"));
  CHECK(has_error(bad, "[upstream.bus] bridge_channels", "none of them empty"));
  CHECK(has_error(bad, "[upstream.bus] bridge_channels", "kind \"topic\" is not one an nats upstream accepts (expected subject)"));
  CHECK(has_error(bad, "[upstream.log] uri", "\"k1:99999\" is not host or host:port"));
  CHECK(has_error(bad, "[upstream.log] bridge_channels", "a Kafka topic is 1 to 249 letters"));
  CHECK(has_error(bad, "key", "expected routing_key, id or none"));
}
