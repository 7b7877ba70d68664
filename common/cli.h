// One way for every hafs program to parse its command line with CLI11 (header-only, so nothing
// here needs linking). CLI11_PARSE exits with CLI11's own codes (105-109 for an unknown flag, a
// missing or out-of-range option), which no operator's script or mount(8) expects.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace hafs {

// Parses argv into app. Returns nullopt to go on, or the status to exit with: 0 after --help,
// `usage_status` for bad arguments (the message is printed as CLI11 prints it).
inline std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, int usage_status) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : usage_status;
  }
  return std::nullopt;
}

}  // namespace hafs
