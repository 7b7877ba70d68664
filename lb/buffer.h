// Byte buffer with a read cursor, used for socket I/O in the HTTP path.
// Thread-safety: none; owned by one session.
#pragma once

#include <cstring>
#include <string_view>
#include <vector>

namespace hafs::lb {

class Buffer {
 public:
  std::string_view Data() const { return {buf_.data() + start_, end_ - start_}; }
  size_t Size() const { return end_ - start_; }
  bool Empty() const { return start_ == end_; }
  void Consume(size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  void Clear() { start_ = end_ = 0; }
  // Space for at least `want` more bytes at the end.
  char* Reserve(size_t want) {
    if (buf_.size() - end_ < want) {
      if (start_ > 0) {
        std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
        end_ -= start_;
        start_ = 0;
      }
      if (buf_.size() - end_ < want) buf_.resize(end_ + want);
    }
    return buf_.data() + end_;
  }
  size_t Room() const { return buf_.size() - end_; }
  void Commit(size_t n) { end_ += n; }
  void Append(std::string_view s) {
    std::memcpy(Reserve(s.size()), s.data(), s.size());
    end_ += s.size();
  }
  // Drops the storage when empty (idle keep-alive connections should not hold memory).
  void ShrinkIfEmpty() {
    if (Empty() && buf_.capacity() > 0) std::vector<char>().swap(buf_);
  }

 private:
  std::vector<char> buf_;
  size_t start_ = 0, end_ = 0;
};

}  // namespace hafs::lb
