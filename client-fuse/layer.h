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

class Layer {
 public:
  virtual ~Layer() = default;

  virtual Future<proto::EntryReply> Lookup(proto::EntryRequest req) = 0;
  virtual Future<proto::AttrReply> Getattr(proto::GfidRequest req) = 0;
  virtual Future<proto::AttrReply> Setattr(proto::SetattrRequest req) = 0;
  virtual Future<proto::EntryReply> Mkdir(proto::MkdirRequest req) = 0;
  virtual Future<proto::EntryReply> Create(proto::CreateRequest req) = 0;
  virtual Future<proto::EntryReply> Mknod(proto::MknodRequest req) = 0;
  virtual Future<proto::EntryReply> Symlink(proto::SymlinkRequest req) = 0;
  virtual Future<proto::ReadlinkReply> Readlink(proto::GfidRequest req) = 0;
  virtual Future<proto::EntryReply> Link(proto::LinkRequest req) = 0;
  virtual Future<proto::EntryReply> Unlink(proto::NameRequest req) = 0;
  virtual Future<proto::EntryReply> Rmdir(proto::NameRequest req) = 0;
  virtual Future<proto::RenameReply> Rename(proto::RenameRequest req) = 0;
  virtual Future<proto::ReaddirReply> Readdir(proto::ReaddirRequest req) = 0;
  virtual Future<proto::ReadReply> Read(proto::ReadRequest req) = 0;
  virtual Future<proto::WriteReply> Write(proto::WriteRequest req) = 0;
  virtual Future<proto::AttrReply> Fallocate(proto::FallocateRequest req) = 0;
  virtual Future<proto::ErrReply> Fsync(proto::FsyncRequest req) = 0;
  virtual Future<proto::StatfsReply> Statfs(proto::GfidRequest req) = 0;
  virtual Future<proto::ErrReply> Setxattr(proto::SetxattrRequest req) = 0;
  virtual Future<proto::XattrReply> Getxattr(proto::GetxattrRequest req) = 0;
  virtual Future<proto::ListxattrReply> Listxattr(proto::GfidRequest req) = 0;
  virtual Future<proto::ErrReply> Removexattr(proto::RemovexattrRequest req) = 0;
  virtual Future<proto::ErrReply> Access(proto::AccessRequest req) = 0;
  // Keeps an unlinked file's data alive while it is open.
  virtual Future<std::shared_ptr<FileRef>> Open(Gfid gfid) = 0;
};

}  // namespace hafs::client
