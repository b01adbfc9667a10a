// pgep-ctl: talks to a running pgep over its control socket. The commands arrive with the
// operations work; until then it says so.
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--version") {
    std::printf("pgep-ctl %s\n", PGEP_VERSION);
    return 0;
  }
  std::fprintf(stderr, "usage: pgep-ctl status|reload|stop|restart BRIDGE (not built yet)\n");
  return 2;
}
