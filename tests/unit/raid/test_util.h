// Helpers for hafs-raid tests: temp member files and an *independent* reading of the
// md layout straight from the member files (MD-FORMAT.md §1, §2), not through the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hafs::raid::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name, uint64_t bytes) const;  // creates a sparse file

 private:
  std::string path_;
};

std::vector<uint8_t> ReadAll(const std::string& path);
std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed);

// Left-symmetric (MD §1) decoding of member files, data_offset read from the raw superblock.
struct MdImage {
  std::vector<std::vector<uint8_t>> members;  // by role
  uint64_t chunk = 0, data_offset = 0, member_bytes = 0;
  int n = 0;
  static MdImage Load(const std::vector<std::string>& paths);  // paths in role order
  // Logical contents, reconstructing role `missing` from the others if >= 0.
  std::vector<uint8_t> Logical(int missing = -1) const;
  // Number of stripes whose parity is not the XOR of their data.
  uint64_t ParityMismatches() const;
};

}  // namespace hafs::raid::testing
