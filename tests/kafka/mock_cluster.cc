// A Kafka cluster for the tests: librdkafka's own mock cluster (real Kafka protocol on loopback),
// since Debian packages no Kafka broker. Prints its bootstrap servers on the first line of its
// output, then takes one command per line on its input and answers "ok" (or "error: ...") to
// each:
//
//   topic NAME PARTITIONS          create a topic (replication 3)
//   down BROKER / up BROKER        take a broker (1, 2 or 3) down or up
//   leader TOPIC PARTITION BROKER  move a partition's leader
//   errors API CODE COUNT          the next COUNT requests of Kafka API key API fail with CODE
//   quit                           (or the end of the input) stops the cluster
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main() {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);  // not "no bootstrap.servers": it has none
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (!handle) {
    std::cerr << "mock_cluster: " << error << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, 3);
  if (!cluster) {
    std::cerr << "mock_cluster: cannot start the mock cluster\n";
    return 1;
  }
  std::cout << rd_kafka_mock_cluster_bootstraps(cluster) << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command;
    words >> command;
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (command == "topic") {
      std::string name;
      int partitions = 1;
      words >> name >> partitions;
      result = rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 3);
    } else if (command == "down" || command == "up") {
      int broker = 0;
      words >> broker;
      result = command == "down" ? rd_kafka_mock_broker_set_down(cluster, broker)
                                 : rd_kafka_mock_broker_set_up(cluster, broker);
    } else if (command == "leader") {
      std::string topic;
      int partition = 0, broker = 0;
      words >> topic >> partition >> broker;
      result = rd_kafka_mock_partition_set_leader(cluster, topic.c_str(), partition, broker);
    } else if (command == "errors") {
      int api = 0, code = 0, count = 0;
      words >> api >> code >> count;
      std::vector<rd_kafka_resp_err_t> codes(static_cast<size_t>(count), static_cast<rd_kafka_resp_err_t>(code));
      rd_kafka_mock_push_request_errors_array(cluster, static_cast<int16_t>(api), codes.size(), codes.data());
    } else if (command == "quit") {
      break;
    } else {
      std::cout << "error: unknown command " << command << std::endl;
      continue;
    }
    if (result == RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::cout << "ok" << std::endl;
    } else {
      std::cout << "error: " << rd_kafka_err2str(result) << std::endl;
    }
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(handle);
  return 0;
}
