// pgep --check-config [FILE]: what `nginx -t` is to nginx. Loads the file and the environment,
// prints the effective configuration (passwords masked) and returns 0, or prints every error
// and returns 1.
#pragma once

#include <string>

namespace pgep {

int check_config(const std::string& file);

}  // namespace pgep
