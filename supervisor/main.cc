// pgep, the supervisor: reads the configuration and runs the sources, the ledger and one
// worker per bridge (see ../README.md and docs/).
#include <cstdio>
#include <cstring>
#include <string>

#include "supervisor/check_config.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: pgep [CONFIG_FILE]                 run with the file and the environment\n"
               "       pgep --check-config [CONFIG_FILE]  check, print the effective settings\n"
               "       pgep -t [CONFIG_FILE]              the same\n"
               "       pgep --version | --help\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--check-config" || arg == "-t") {
      check = true;
    } else if (arg == "--version") {
      std::printf("pgep %s\n", PGEP_VERSION);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "pgep: unknown option %s\n", arg.c_str());
      usage(stderr);
      return 2;
    } else if (file.empty()) {
      file = arg;
    } else {
      std::fprintf(stderr, "pgep: more than one configuration file given (%s and %s)\n",
                   file.c_str(), arg.c_str());
      return 2;
    }
  }
  if (check) return pgep::check_config(file);
  int status = pgep::check_config(file);
  if (status != 0) return status;
  std::fprintf(stderr, "pgep: forwarding is not built yet (issue 3); only --check-config works\n");
  return 2;
}
