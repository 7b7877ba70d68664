#define FUSE_USE_VERSION 312
#include "raid/fuse_export.h"

#include <fuse3/fuse.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "raid/array.h"

namespace hafs::raid {
namespace {

struct Ctx {
  Array* array;
  std::string name;  // "/" + file name
};

Ctx* GetCtx() { return static_cast<Ctx*>(fuse_get_context()->private_data); }

void* OnInit(fuse_conn_info* conn, fuse_config* cfg) {
  // Big requests keep full-stripe writes full; the kernel caps them at its max_pages.
  conn->max_write = 1024 * 1024;
  conn->max_readahead = 1024 * 1024;
  cfg->use_ino = 1;
  cfg->entry_timeout = cfg->attr_timeout = 3600;
  cfg->kernel_cache = 1;  // nobody changes the image behind this mount's back
  return fuse_get_context()->private_data;
}

int OnGetattr(const char* path, struct stat* st, fuse_file_info*) {
  Ctx* c = GetCtx();
  std::memset(st, 0, sizeof(*st));
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    st->st_ino = 1;
    return 0;
  }
  if (c->name != path) return -ENOENT;
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_ino = 2;
  st->st_size = off_t(c->array->Size());
  st->st_blksize = 4096;
  st->st_blocks = st->st_size / 512;
  return 0;
}

int OnReaddir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
  if (std::strcmp(path, "/") != 0) return -ENOTDIR;
  fill(buf, ".", nullptr, 0, fuse_fill_dir_flags(0));
  fill(buf, "..", nullptr, 0, fuse_fill_dir_flags(0));
  fill(buf, GetCtx()->name.c_str() + 1, nullptr, 0, fuse_fill_dir_flags(0));
  return 0;
}

int OnOpen(const char* path, fuse_file_info* fi) {
  if (GetCtx()->name != path) return -ENOENT;
  fi->keep_cache = 1;
  return 0;
}

int OnRead(const char*, char* buf, size_t size, off_t off, fuse_file_info*) {
  Array* a = GetCtx()->array;
  if (uint64_t(off) >= a->Size()) return 0;
  size = size_t(std::min<uint64_t>(size, a->Size() - uint64_t(off)));
  Status st = a->Read(uint64_t(off), size, buf);
  if (!st.ok()) {
    HAFS_LOG_ERROR("raid export: read {}+{}: {}", off, size, st.ToString());
    return -st.err();
  }
  return int(size);
}

int OnWrite(const char*, const char* buf, size_t size, off_t off, fuse_file_info*) {
  Array* a = GetCtx()->array;
  if (uint64_t(off) >= a->Size()) return -ENOSPC;
  size = size_t(std::min<uint64_t>(size, a->Size() - uint64_t(off)));
  Status st = a->Write(uint64_t(off), size, buf);
  if (!st.ok()) {
    HAFS_LOG_ERROR("raid export: write {}+{}: {}", off, size, st.ToString());
    return -st.err();
  }
  return int(size);
}

int OnFsync(const char*, int, fuse_file_info*) {
  Status st = GetCtx()->array->Flush();
  return st.ok() ? 0 : -st.err();
}

int OnTruncate(const char*, off_t size, fuse_file_info*) {
  // A block image has a fixed size; accept the no-op truncation tools issue.
  return uint64_t(size) == GetCtx()->array->Size() ? 0 : -EPERM;
}

}  // namespace

FuseExport::FuseExport(Array* array, std::string file_name) : array_(array), file_name_(std::move(file_name)) {}

FuseExport::~FuseExport() { Stop(); }

Status FuseExport::Start(const std::string& dir) {
  static const fuse_operations ops = [] {
    fuse_operations o{};
    o.init = OnInit;
    o.getattr = OnGetattr;
    o.readdir = OnReaddir;
    o.open = OnOpen;
    o.read = OnRead;
    o.write = OnWrite;
    o.fsync = OnFsync;
    o.truncate = OnTruncate;
    return o;
  }();
  auto* ctx = new Ctx{array_, "/" + file_name_};
  const char* argv[] = {"hafs-raid", "-o", "fsname=hafs-raid,subtype=hafs-raid,allow_other", nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  fuse_ = fuse_new(&args, &ops, sizeof(ops), ctx);
  fuse_opt_free_args(&args);
  if (!fuse_) {
    delete ctx;
    return Status(EIO, "fuse_new failed");
  }
  if (fuse_mount(fuse_, dir.c_str()) != 0) {
    fuse_destroy(fuse_);
    fuse_ = nullptr;
    delete ctx;
    return Status(EIO, "cannot mount FUSE at " + dir + " (is /dev/fuse available?)");
  }
  dir_ = dir;
  loop_ = std::thread([f = fuse_, ctx] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 8);
    fuse_loop_mt(f, cfg);
    fuse_loop_cfg_destroy(cfg);
    delete ctx;
  });
  // Only now, with the loop serving, may we touch the mount (stat is a FUSE request).
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) conn_id_ = minor(st.st_dev);
  HAFS_LOG_INFO("raid: exporting the array as {}/{}", dir, file_name_);
  return Status::Ok();
}

Status FuseExport::TryUnmount() {
  if (!fuse_ || unmounted_) return Status::Ok();
  if (umount2(dir_.c_str(), 0) != 0) {
    return Status::FromErrno(errno, fmt::format("cannot unmount {} (is a loop device or a process still using {}/{}?)",
                                                dir_, dir_, file_name_));
  }
  unmounted_ = true;
  return Status::Ok();
}

void FuseExport::Stop() {
  if (!fuse_) return;
  fuse_exit(fuse_);
  if (!TryUnmount().ok()) {
    // Still in use: detach the mount and abort the FUSE connection so the loop ends;
    // users of the image get ENOTCONN, as after a crash.
    HAFS_LOG_WARN("raid: export {} busy; detaching it and aborting its FUSE connection", dir_);
    umount2(dir_.c_str(), MNT_DETACH);
    const std::string abort = fmt::format("/sys/fs/fuse/connections/{}/abort", conn_id_);
    int fd = ::open(abort.c_str(), O_WRONLY);
    if (fd >= 0) {
      if (::write(fd, "1", 1) != 1) HAFS_LOG_WARN("raid: cannot abort FUSE connection {}", conn_id_);
      ::close(fd);
    }
  }
  fuse_unmount(fuse_);  // the session's own cleanup; the loop's read of /dev/fuse now fails
  if (loop_.joinable()) loop_.join();
  fuse_destroy(fuse_);
  fuse_ = nullptr;
}

}  // namespace hafs::raid
