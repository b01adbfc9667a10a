#include "supervisor/check_config.h"

#include <unistd.h>

#include <cstdio>

#include "shared/config.h"

namespace pgep {

int check_config(const std::string& file) {
  ConfigInput input{file, process_environment(), static_cast<unsigned>(getuid())};
  ConfigResult result = load_config(input);
  std::string origin = file.empty() ? "the environment" : file + " and the environment";
  if (!result.ok()) {
    for (const ConfigError& error : result.errors) {
      std::fprintf(stderr, "pgep: %s\n", error.to_string().c_str());
    }
    std::fprintf(stderr, "pgep: configuration from %s has %zu error%s\n", origin.c_str(),
                 result.errors.size(), result.errors.size() == 1 ? "" : "s");
    return 1;
  }
  std::printf("# pgep: the configuration from %s is valid; effective settings:\n%s",
              origin.c_str(), format_config(result.config).c_str());
  return 0;
}

}  // namespace pgep
