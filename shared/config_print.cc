// The effective configuration, as `pgep --check-config` prints it: the [pgep]/[database]/
// [upstream.NAME] format with every default spelled out, so that what is printed is also a
// valid configuration file (once the masked passwords are put back).
#include <sstream>

#include "shared/config.h"
#include "shared/config_options.h"

namespace pgep {

namespace {

void print_section(std::ostringstream& out, const std::string& header,
                   std::span<const OptionSpec> table,
                   const std::map<std::string, std::string>& values) {
  out << "[" << header << "]\n";
  for (const OptionSpec& spec : table) {
    auto found = values.find(std::string(spec.key));
    if (found == values.end()) continue;
    std::string shown = spec.secret && !found->second.empty()
                            ? "****"
                            : displayed_value(spec.key, found->second);
    // A value of several lines (a list) continues on indented lines, as it may be written.
    std::string continued;
    for (char c : shown) continued += c == '\n' ? std::string("\n    ") : std::string(1, c);
    out << spec.key << " = " << continued << "\n";
  }
}

}  // namespace

std::string format_config(const Config& config) {
  std::ostringstream out;
  print_section(out, "pgep", daemon_options(), config.daemon.values);
  out << "\n";
  print_section(out, "database", database_options(), config.database.values);
  for (const UpstreamSettings& upstream : config.upstreams) {
    out << "\n";
    // One bridge a line keeps a long list readable and inside the INI reader's line limit.
    std::map<std::string, std::string> values = upstream.options;
    std::string bridges;
    for (const BridgeSpec& bridge : upstream.bridges) {
      bridges += (bridges.empty() ? "" : ",\n") + bridge.text();
    }
    values["bridge_channels"] = bridges;
    print_section(out, "upstream." + upstream.name, upstream_options(upstream.kind), values);
    for (const BridgeSpec& bridge : upstream.bridges) {
      out << "# bridge " << upstream.name << "/" << bridge.text() << ": "
          << (bridge.is_wal() ? "the WAL stream" : "NOTIFY " + bridge.channel) << "\n";
    }
  }
  return out.str();
}

}  // namespace pgep
