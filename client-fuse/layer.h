// Layer: the one operation interface every client layer implements — protocol (one brick),
// replicate (a replica set), distribute (the volume) — so that layers stack like Gluster's
// xlators and each can be tested alone.
//
// Asynchronous: every operation returns a Future. The protocol layer completes it from
// gRPC's callback threads; a layer that fans out (replicate) starts all its children's
// calls before waiting on any, so replicas are written in parallel. Requests and replies
// are the brick protocol's typed messages (proto/brick.proto): one vocabulary from the FUSE
// bridge down to the brick, no untyped dictionaries. A POSIX failure is a non-OK Status
// carrying the errno the application will see.
//
// Thread-safety: every method may be called from any thread concurrently.
#pragma once

#include <future>
#include <memory>

#include "common/gfid.h"
#include "common/status.h"
#include "proto/brick.pb.h"

namespace hafs::client {

template <typename T>
using Future = std::future<Result<T>>;

template <typename T>
Future<T> Ready(Result<T> value) {
  std::promise<Result<T>> p;
  p.set_value(std::move(value));
  return p.get_future();
}

// Runs fn on the thread that waits for the result: an asynchronous interface without a
// thread pool for layers whose work is itself mostly waiting on their children.
template <typename F>
auto Deferred(F&& fn) {
  return std::async(std::launch::deferred, std::forward<F>(fn));
}

// An open file on a layer: holds whatever the layer needs (per-brick handles) and
// releases it when destroyed. The FUSE bridge keeps one per open file handle.
class FileRef {
 public:
  virtual ~FileRef() = default;
};

// Every operation of the Layer interface, once: X(Method, Request, Reply).
#define HAFS_LAYER_OPS(X) \
  X(Lookup, EntryRequest, EntryReply) \
  X(Getattr, GfidRequest, AttrReply) \
  X(Setattr, SetattrRequest, AttrReply) \
  X(Mkdir, MkdirRequest, EntryReply) \
  X(Create, CreateRequest, EntryReply) \
  X(Mknod, MknodRequest, EntryReply) \
  X(Symlink, SymlinkRequest, EntryReply) \
  X(Readlink, GfidRequest, ReadlinkReply) \
  X(Link, LinkRequest, EntryReply) \
  X(Unlink, NameRequest, EntryReply) \
  X(Rmdir, NameRequest, EntryReply) \
  X(Rename, RenameRequest, RenameReply) \
  X(Readdir, ReaddirRequest, ReaddirReply) \
  X(Read, ReadRequest, ReadReply) \
  X(Write, WriteRequest, WriteReply) \
  X(Fallocate, FallocateRequest, AttrReply) \
  X(Fsync, FsyncRequest, ErrReply) \
  X(Statfs, GfidRequest, StatfsReply) \
  X(Setxattr, SetxattrRequest, ErrReply) \
  X(Getxattr, GetxattrRequest, XattrReply) \
  X(Listxattr, GfidRequest, ListxattrReply) \
  X(Removexattr, RemovexattrRequest, ErrReply) \
  X(Access, AccessRequest, ErrReply)

#define HAFS_LAYER_PURE(Method, Req, Rep) virtual Future<proto::Rep> Method(proto::Req req) = 0;
#define HAFS_LAYER_OVERRIDE(Method, Req, Rep) Future<proto::Rep> Method(proto::Req req) override;

class Layer {
 public:
  virtual ~Layer() = default;

  HAFS_LAYER_OPS(HAFS_LAYER_PURE)
  // Keeps an unlinked file's data alive while it is open.
  virtual Future<std::shared_ptr<FileRef>> Open(Gfid gfid) = 0;
  // True if a call's work starts only when its future is waited for (Deferred), so that a
  // layer above several of these must wait for them on several threads to have them work at
  // once (FanOut's pool). A brick's call goes out at once: false.
  virtual bool LazyCalls() const { return false; }
};

}  // namespace hafs::client
