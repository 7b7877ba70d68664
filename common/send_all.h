// SendAll: every byte of a gather list onto a blocking socket, however the kernel splits it
// (the read channel's replies on the brick, its requests on the client).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>

namespace hafs {

// Sends all of iov[0..n_iov) (empty entries allowed; `iov` is consumed). False if the
// connection failed or the socket's send timeout passed.
inline bool SendAll(int fd, iovec* iov, int n_iov) {
  int first = 0;
  while (first < n_iov && iov[first].iov_len == 0) first++;
  while (first < n_iov) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(n_iov - first);
    ssize_t k = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    auto left = static_cast<size_t>(k);
    while (first < n_iov && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < n_iov) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

}  // namespace hafs
