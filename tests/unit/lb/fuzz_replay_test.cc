// Replays the libFuzzer targets without libFuzzer: seed corpora, then bounded
// deterministic mutations of each seed (byte flips, truncations, splices).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int FuzzHttpParserOneInput(const uint8_t* data, size_t size);
extern "C" int FuzzConfigOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> Corpus(const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(LB_FUZZ_DIR) + "/" + name)) {
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

void Replay(int (*target)(const uint8_t*, size_t), const std::vector<std::string>& seeds, int mutations) {
  std::mt19937 rng(1234);
  auto run = [&](const std::string& s) { target(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  for (const auto& s : seeds) run(s);
  static const char* kTokens[] = {"\r\n", "\n", ":", " ", "chunked", "Content-Length: 5\r\n", "0\r\n\r\n", "ffffffffff",
                                  "server s 127.0.0.1:1", "backend b\n", "\"", "#", "\\"};
  for (int i = 0; i < mutations; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t pos = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[pos] = static_cast<char>(rng()); break;
        case 1: s.resize(pos); break;
        case 2: s.insert(pos, kTokens[rng() % std::size(kTokens)]); break;
        case 3: s.erase(pos, rng() % 8); break;
      }
    }
    run(s);
  }
}

TEST(LbFuzzReplay, HttpParser) { Replay(FuzzHttpParserOneInput, Corpus("corpus_http_parser"), 20000); }
TEST(LbFuzzReplay, Config) { Replay(FuzzConfigOneInput, Corpus("corpus_config"), 5000); }

}  // namespace
