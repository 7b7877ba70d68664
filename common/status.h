// Status and Result<T>: how errors cross component boundaries in hafs.
//
// A Status is either OK or an errno value plus a human message. errno is the
// common currency because every error finally surfaces at a POSIX edge (FUSE,
// a CLI exit line) where errno is what the user sees. Cheap to copy when OK.
// Thread-safety: value types, no shared state.
#pragma once

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace hafs {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(int err, std::string message) : err_(err), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  // Builds an error from errno with "what: strerror" as the message.
  static Status FromErrno(int err, std::string_view what) {
    return Status(err, fmt::format("{}: {}", what, std::strerror(err)));
  }

  bool ok() const { return err_ == 0; }
  int err() const { return err_; }
  const std::string& message() const { return message_; }
  std::string ToString() const {
    if (ok()) return "OK";
    return message_.empty() ? std::string(std::strerror(err_)) : message_;
  }

 private:
  int err_ = 0;
  std::string message_;
};

inline Status ErrnoStatus(int err) { return Status(err, std::strerror(err)); }

// Result<T>: a T or a non-OK Status (C++20 has no std::expected yet).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {}     // NOLINT(implicit)

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  int err() const { return ok() ? 0 : std::get<Status>(v_).err(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hafs

// Propagates a non-OK Status from an expression returning Status.
#define HAFS_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::hafs::Status _st = (expr);              \
    if (!_st.ok()) return _st;                \
  } while (0)

// Declares `var` from an expression returning Result<T>, or returns its non-OK Status.
#define HAFS_ASSIGN_OR_RETURN(var, expr)         \
  auto var##_result = (expr);                    \
  if (!var##_result.ok()) return var##_result.status(); \
  auto var = std::move(var##_result).value()
