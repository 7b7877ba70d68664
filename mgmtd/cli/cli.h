// The `hafs` admin CLI as a library: parses gluster-style words, calls the mgmtd (local by
// default, or --remote-host), prints gluster-like human output or --json. Every refusal is
// one line on stderr and a non-zero exit status. Thread-safety: Run is reentrant.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace hafs::cli {

// Runs one command line (without the program name); returns the exit status.
int Run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The usage text (`hafs help`).
std::string Usage();

}  // namespace hafs::cli
