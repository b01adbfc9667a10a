// pgep-worker: started by pgep, one per bridge, with its socket as fd 3.
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--version") {
    std::printf("pgep-worker %s\n", PGEP_VERSION);
    return 0;
  }
  std::fprintf(stderr, "pgep-worker: started by pgep only (its socket is fd 3); not built yet\n");
  return 2;
}
