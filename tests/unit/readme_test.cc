// The README's configuration reference must name every key pgep accepts (run from the
// repository's root, as tests/run does).
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "shared/config_options.h"

TEST_CASE("every configuration key is documented in README.md") {
  std::ifstream in("README.md");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  std::string readme = text.str();
  for (auto table : {pgep::daemon_options(), pgep::database_options(),
                     pgep::upstream_options(pgep::UpstreamKind::Amqp),
                     pgep::upstream_options(pgep::UpstreamKind::Mqtt),
                     pgep::upstream_options(pgep::UpstreamKind::Redis),
                     pgep::upstream_options(pgep::UpstreamKind::Webhook),
                     pgep::upstream_options(pgep::UpstreamKind::AwsSns),
                     pgep::upstream_options(pgep::UpstreamKind::AwsLambda),
                     pgep::upstream_options(pgep::UpstreamKind::Nats),
                     pgep::upstream_options(pgep::UpstreamKind::Kafka)}) {
    for (const pgep::OptionSpec& spec : table) {
      INFO("key " << spec.key);
      CHECK(readme.find("`" + std::string(spec.key) + "`") != std::string::npos);
    }
  }
}
