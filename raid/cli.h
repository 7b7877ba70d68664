// The hafs-raid command line (mdadm's words): parses arguments and runs one command,
// either against a running array through its control socket or, when none runs,
// directly on the member superblocks. Returns the process exit code.
#pragma once

namespace hafs::raid {

int RunCli(int argc, char** argv);

}  // namespace hafs::raid
