#include "supervisor/admin/check_config.h"

#include <cstdio>

#include "shared/config.h"
#include "supervisor/unverified_peers.h"

namespace pgep {

int check_config(const std::string& file) {
  ConfigInput input = ConfigInput::from_process(file);
  ConfigResult result = load_config(input);
  std::string origin = file.empty() ? "the environment" : file + " and the environment";
  if (!result.ok()) {
    std::fprintf(stderr, "pgep: %s\n", result.describe("\npgep: ").c_str());
    std::fprintf(stderr, "pgep: configuration from %s has %zu error%s\n", origin.c_str(),
                 result.errors.size(), result.errors.size() == 1 ? "" : "s");
    return 1;
  }
  for (const std::string& warning : unverified_peers(result.config, input)) {
    std::fprintf(stderr, "pgep: warning: %s\n", warning.c_str());
  }
  std::printf("# pgep: the configuration from %s is valid; effective settings:\n%s",
              origin.c_str(), format_config(result.config).c_str());
  return 0;
}

}  // namespace pgep
