// hafs-raid: md-style software RAID5 (see docs/raid.md).
#include "raid/cli.h"

int main(int argc, char** argv) { return hafs::raid::RunCli(argc, argv); }
