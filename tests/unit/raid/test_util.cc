#include "test_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace hafs::raid::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/hafs-raid-test-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::File(const std::string& name, uint64_t bytes) const {
  std::string p = path_ + "/" + name;
  int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0644);
  if (fd < 0 || ftruncate(fd, off_t(bytes)) != 0) throw std::runtime_error("create " + p);
  ::close(fd);
  return p;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("open " + path);
  const off_t size = lseek(fd, 0, SEEK_END);
  std::vector<uint8_t> v(size_t(size > 0 ? size : 0));
  for (size_t done = 0; done < v.size();) {
    const ssize_t n = pread(fd, v.data() + done, v.size() - done, off_t(done));
    if (n <= 0) break;
    done += size_t(n);
  }
  ::close(fd);
  return v;
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  // splitmix64: fast even in a Debug+ASan build.
  uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 1;
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = (state += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    std::memcpy(&v[i], &x, std::min<size_t>(8, n - i));
  }
  return v;
}

namespace {
uint64_t Le(const std::vector<uint8_t>& b, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | b[off + size_t(i)];
  return v;
}
}  // namespace

MdImage MdImage::Load(const std::vector<std::string>& paths) {
  MdImage m;
  for (const auto& p : paths) m.members.push_back(ReadAll(p));
  const auto& b = m.members[0];
  const size_t sb = 4096;                       // MD §2: v1.2 superblock at byte 4096
  m.chunk = Le(b, sb + 88, 4) * 512;            // MD §3 chunksize (sectors)
  m.n = int(Le(b, sb + 92, 4));                 // raid_disks
  m.data_offset = Le(b, sb + 128, 8) * 512;     // data_offset
  m.member_bytes = Le(b, sb + 80, 8) * 512;     // size
  return m;
}

std::vector<uint8_t> MdImage::Logical(int missing) const {
  const int k = n - 1;
  const uint64_t stripes = member_bytes / chunk;
  std::vector<uint8_t> out(stripes * uint64_t(k) * chunk);
  for (uint64_t s = 0; s < stripes; ++s) {
    const int pd = (n - 1) - int(s % uint64_t(n));  // MD §1 left-symmetric
    for (int dd = 0; dd < k; ++dd) {
      const int role = (pd + 1 + dd) % n;
      uint8_t* dst = &out[(s * uint64_t(k) + uint64_t(dd)) * chunk];
      const uint64_t moff = data_offset + s * chunk;
      if (role != missing) {
        std::memcpy(dst, &members[size_t(role)][moff], chunk);
        continue;
      }
      std::memset(dst, 0, chunk);
      for (int r = 0; r < n; ++r) {
        if (r == role) continue;
        for (uint64_t i = 0; i < chunk; i += 8) {
          uint64_t a, b;
          std::memcpy(&a, dst + i, 8);
          std::memcpy(&b, &members[size_t(r)][moff + i], 8);
          a ^= b;
          std::memcpy(dst + i, &a, 8);
        }
      }
    }
  }
  return out;
}

uint64_t MdImage::ParityMismatches() const {
  uint64_t bad = 0;
  for (uint64_t s = 0; s < member_bytes / chunk; ++s) {
    const uint64_t moff = data_offset + s * chunk;
    for (uint64_t i = 0; i < chunk; i += 8) {
      uint64_t x = 0;
      for (int r = 0; r < n; ++r) {
        uint64_t w;
        std::memcpy(&w, &members[size_t(r)][moff + i], 8);
        x ^= w;
      }
      if (x) {
        ++bad;
        break;
      }
    }
  }
  return bad;
}

}  // namespace hafs::raid::testing
