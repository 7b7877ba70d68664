// raid_test_writer FILE REGION_BYTES SECONDS SEED: a concurrent writer for the rebuild
// test. Writes random 4 KiB..256 KiB blocks at random 4 KiB-aligned offsets of the first
// REGION_BYTES of FILE for SECONDS, keeping a model of every acknowledged write, then
// fsyncs, reads the region back and exits 0 only if it matches the model.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s FILE REGION_BYTES SECONDS SEED\n", argv[0]);
    return 2;
  }
  const size_t region = std::strtoull(argv[2], nullptr, 10);
  const double secs = std::atof(argv[3]);
  std::mt19937_64 rng(std::strtoull(argv[4], nullptr, 10));
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) {
    std::perror("open");
    return 1;
  }
  std::vector<unsigned char> model(region);
  if (pread(fd, model.data(), region, 0) != ssize_t(region)) {
    std::perror("initial read");
    return 1;
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(secs);
  size_t writes = 0;
  std::vector<unsigned char> buf(256 * 1024);
  while (std::chrono::steady_clock::now() < end) {
    const size_t len = 4096 * (1 + rng() % 64);
    const size_t off = (rng() % ((region - len) / 4096)) * 4096;
    for (size_t i = 0; i < len; i += 8) {
      const uint64_t x = rng();
      std::memcpy(&buf[i], &x, 8);
    }
    if (pwrite(fd, buf.data(), len, off_t(off)) != ssize_t(len)) {
      std::perror("pwrite");
      return 1;
    }
    std::memcpy(&model[off], buf.data(), len);
    ++writes;
  }
  if (fsync(fd) != 0) {
    std::perror("fsync");
    return 1;
  }
  std::vector<unsigned char> back(region);
  if (pread(fd, back.data(), region, 0) != ssize_t(region)) {
    std::perror("read back");
    return 1;
  }
  if (back != model) {
    size_t i = 0;
    while (back[i] == model[i]) ++i;
    std::fprintf(stderr, "writer: MISMATCH at byte %zu after %zu writes\n", i, writes);
    return 1;
  }
  std::printf("writer: %zu writes verified\n", writes);
  return 0;
}
