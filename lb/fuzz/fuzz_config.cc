// libFuzzer target: the configuration parser must reject or accept any text without
// crashing, and every rejection must name the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lb/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto cfg = hafs::lb::ParseConfig(text, "fuzz.cfg");
  if (!cfg.ok() && cfg.status().message().find("fuzz.cfg") == std::string::npos) __builtin_trap();
  return 0;
}
