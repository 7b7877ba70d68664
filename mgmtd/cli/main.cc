// hafs: the admin CLI (gluster-style words). See docs/mgmtd.md.
#include <iostream>

#include "mgmtd/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return hafs::cli::Run(args, std::cout, std::cerr);
}
