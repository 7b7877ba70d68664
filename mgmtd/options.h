// Volume options: every key a volume accepts, declared once as data (default, what values
// are valid, description, who consumes it). `hafs volume set/get/reset`, validation and
// docs/mgmtd.md come from this table. Gluster names where one exists.
// Thread-safety: immutable after static initialisation.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hafs::mgmtd {

struct OptionSpec {
  std::string key;
  std::string default_value;
  std::string valid;          // human description of valid values, used in error messages
  std::string description;
  std::string consumer;       // client | brick | mgmtd
};

const std::vector<OptionSpec>& AllOptions();
const OptionSpec* FindOption(const std::string& key);
// Checks key and value; the message names the key, the value and what is allowed.
Status ValidateOption(const std::string& key, const std::string& value);

}  // namespace hafs::mgmtd
