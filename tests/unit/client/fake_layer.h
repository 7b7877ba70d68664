// FakeLayer: the shared base of the unit tests' fake lower layers (content cache, read-ahead,
// write-behind, md-cache tests). Every operation a fake does not override answers at once:
// with ENOSYS by default, or with an empty (successful) reply when `answer_empty` is set; each
// such call is passed to Noted() first (a fake that records calls overrides it).
#pragma once

#include <cerrno>
#include <memory>
#include <string>

#include "client-fuse/layer.h"

namespace hafs::client::fakes {

class FakeLayer : public Layer {
 public:
  explicit FakeLayer(bool answer_empty = false) : answer_empty_(answer_empty) {}

#define HAFS_FAKE_OP(Method, Req, Rep)                                               \
  Future<proto::Rep> Method(proto::Req) override {                                   \
    Noted(#Method);                                                                  \
    if (answer_empty_) return Ready<proto::Rep>(proto::Rep{});                       \
    return Ready<proto::Rep>(Status(ENOSYS, #Method));                               \
  }
  HAFS_LAYER_OPS(HAFS_FAKE_OP)
#undef HAFS_FAKE_OP
  Future<std::shared_ptr<FileRef>> Open(Gfid) override {
    return Ready<std::shared_ptr<FileRef>>(std::shared_ptr<FileRef>());
  }

 protected:
  virtual void Noted(const std::string&) {}

 private:
  bool answer_empty_;
};

}  // namespace hafs::client::fakes
