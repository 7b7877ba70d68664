// Factories of the two kinds of client sessions, and helpers they share.
// TcpSession (tcp_session.cc): L4 relay with splice(2) through pipes, zero copy.
// HttpSession (http_session.cc): HTTP/1.1 proxy with keep-alive on both sides.
// Thread-safety: sessions live on one worker thread.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>

#include "lb/runtime.h"
#include "lb/worker.h"

namespace hafs::lb {

Session* NewTcpSession(Worker& w, std::shared_ptr<Runtime> rt, const FrontendRt* fe, int fd, const sockaddr_storage& peer);
Session* NewHttpSession(Worker& w, std::shared_ptr<Runtime> rt, const FrontendRt* fe, int fd, const sockaddr_storage& peer);

// Starts a non-blocking connect; returns the fd or -1 with errno set.
int StartConnect(const Address& addr);
// Result of a finished non-blocking connect (0 or an errno).
int ConnectError(int fd);
// Client IP as text and its hash (balance source).
std::string PeerIp(const sockaddr_storage& peer);
uint64_t PeerHash(const sockaddr_storage& peer);

// Records a failed connection to a server seen by traffic; marks it down after
// `fall` consecutive failures when it is health-checked.
void ObserveServerFailure(const ServerRt& srv, const char* why);
void ObserveServerSuccess(const ServerRt& srv);

}  // namespace hafs::lb
