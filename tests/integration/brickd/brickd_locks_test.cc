// Replication primitives through real gRPC: sessions, locks, xattrop, heal index, upcalls.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/brickd_process.h"

namespace hafs::testing {
namespace {

using namespace std::chrono_literals;
using grpc::ClientContext;

// A client session on its own channel (own TCP connection), like one mount of one client.
class Session {
 public:
  Session(BrickdProcess& brick, std::string id, uint32_t lease_ms = 5000)
      : id_(std::move(id)), channel_(brick.NewChannel()), stub_(proto::Brick::NewStub(channel_)) {
    stream_ = stub_->Session(&ctx_);
    proto::SessionMessage hello;
    hello.mutable_hello()->set_session_id(id_);
    hello.mutable_hello()->set_client_name("test-" + id_);
    hello.mutable_hello()->set_lease_ms(lease_ms);
    EXPECT_TRUE(stream_->Write(hello));
    proto::SessionEvent welcome;
    EXPECT_TRUE(stream_->Read(&welcome));
    EXPECT_TRUE(welcome.has_welcome());
    EXPECT_EQ(welcome.welcome().volume_id(), kVolumeId);
  }
  ~Session() { Kill(); }

  // Ends the connection abruptly, as a crashed client would.
  void Kill() {
    if (!stream_) return;
    ctx_.TryCancel();
    stream_->Finish();
    stream_.reset();
  }
  bool Heartbeat(uint64_t seq) {
    proto::SessionMessage m;
    m.mutable_heartbeat()->set_seq(seq);
    return stream_->Write(m);
  }
  bool NextEvent(proto::SessionEvent* ev) { return stream_->Read(ev); }

  int Inodelk(const Gfid& g, proto::LockType type, uint64_t start, uint64_t len, bool blocking = false,
              uint32_t timeout_ms = 0, uint64_t owner = 1) {
    proto::InodelkRequest r;
    r.set_session_id(id_);
    r.set_gfid(G(g));
    r.set_domain("data");
    r.set_type(type);
    r.set_start(start);
    r.set_length(len);
    r.set_owner(owner);
    r.set_blocking(blocking);
    r.set_timeout_ms(timeout_ms);
    proto::ErrReply rep;
    ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    auto st = stub_->Inodelk(&ctx, r, &rep);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return st.ok() ? rep.err() : -1;
  }
  int Entrylk(const Gfid& parent, const std::string& name, proto::LockType type, bool blocking = false,
              uint32_t timeout_ms = 0) {
    proto::EntrylkRequest r;
    r.set_session_id(id_);
    r.set_parent(G(parent));
    r.set_domain("entry");
    r.set_name(name);
    r.set_type(type);
    r.set_owner(1);
    r.set_blocking(blocking);
    r.set_timeout_ms(timeout_ms);
    proto::ErrReply rep;
    ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    EXPECT_TRUE(stub_->Entrylk(&ctx, r, &rep).ok());
    return rep.err();
  }
  proto::Brick::Stub& stub() { return *stub_; }
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<proto::Brick::Stub> stub_;
  ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<proto::SessionMessage, proto::SessionEvent>> stream_;
};

class BrickLocksTest : public ::testing::Test {
 protected:
  Gfid NewFile(const std::string& name) {
    int err;
    Gfid g = CreateInRoot(brick_, name, &err);
    EXPECT_EQ(err, 0);
    return g;
  }
  BrickdProcess brick_;
};

TEST_F(BrickLocksTest, ContentionBetweenClients) {
  Gfid f = NewFile("f");
  Session a(brick_, "client-a"), b(brick_, "client-b");
  ASSERT_EQ(a.Inodelk(f, proto::WRITE, 0, 0), 0);
  EXPECT_EQ(b.Inodelk(f, proto::WRITE, 0, 100), EAGAIN);
  EXPECT_EQ(b.Inodelk(f, proto::READ, 0, 100), EAGAIN);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(b.Inodelk(f, proto::WRITE, 0, 100, true, 300), EAGAIN);  // blocking, times out
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);

  std::atomic<int> got{-1};
  std::thread waiter([&] { got = b.Inodelk(f, proto::WRITE, 0, 100, true, 10000); });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(got.load(), -1);
  ASSERT_EQ(a.Inodelk(f, proto::UNLOCK, 0, 0), 0);
  waiter.join();
  EXPECT_EQ(got.load(), 0);
  // Entry locks: same name conflicts, other names don't.
  ASSERT_EQ(a.Entrylk(Gfid::Root(), "x", proto::WRITE), 0);
  EXPECT_EQ(b.Entrylk(Gfid::Root(), "x", proto::WRITE), EAGAIN);
  EXPECT_EQ(b.Entrylk(Gfid::Root(), "y", proto::WRITE), 0);
}

// A create may carry the new file's data lock with its pre-op (replicate's eager lock): it is
// granted to the tail's session once the file exists, never on a name that existed already.
TEST_F(BrickLocksTest, CreateCarriesTheDataLock) {
  Session a(brick_, "client-a"), b(brick_, "client-b");
  auto create = [&](const std::string& name, const Gfid& g) {
    proto::CreateRequest req;
    req.set_parent(G(Gfid::Root()));
    req.set_name(name);
    req.set_gfid(G(g));
    req.set_mode(0644);
    req.mutable_tail()->set_session_id("client-a");
    auto* dl = req.mutable_data_lock();
    dl->set_gfid(G(g));
    dl->set_domain("data");
    dl->set_type(proto::WRITE);
    dl->set_owner(7);
    auto* pre = dl->add_pre_op();
    pre->set_gfid(G(g));
    (*pre->mutable_deltas())["pending.data.0"] = 1;
    proto::EntryReply rep;
    ClientContext ctx;
    EXPECT_TRUE(a.stub().Create(&ctx, req, &rep).ok());
    return rep;
  };
  Gfid g = Gfid::Random();
  auto rep = create("carried", g);
  ASSERT_EQ(rep.err(), 0);
  EXPECT_TRUE(rep.data_locked());
  EXPECT_EQ(b.Inodelk(g, proto::WRITE, 0, 0), EAGAIN);  // held for client-a
  proto::XattropRequest x;
  x.set_gfid(G(g));
  proto::XattropReply xr;
  ClientContext c1;
  ASSERT_TRUE(brick_.stub().Xattrop(&c1, x, &xr).ok());
  EXPECT_EQ(xr.values().at("pending.data.0"), 1);  // the pre-op came with it
  ASSERT_EQ(a.Inodelk(g, proto::UNLOCK, 0, 0, false, 0, 7), 0);
  EXPECT_EQ(b.Inodelk(g, proto::WRITE, 0, 0), 0);
  // The name exists (another gfid): created nothing, locked nothing.
  Gfid other = Gfid::Random();
  auto again = create("carried", other);
  ASSERT_EQ(again.err(), 0);
  EXPECT_FALSE(again.data_locked());
  EXPECT_EQ(Gfid::FromBytes(again.attr().gfid()), g);
}

// ReleaseLocks: several eager releases in one call. Each item's post-op is applied and its
// lock let go, in order; a bad item (not an UNLOCK, a malformed gfid) is answered EINVAL alone
// and changes nothing; only the request's session counts.
TEST_F(BrickLocksTest, ReleaseLocksLetsGoOfSeveralLocksWithTheirPostOps) {
  Session a(brick_, "client-a"), b(brick_, "client-b");
  std::vector<Gfid> files;
  for (int i = 0; i < 3; ++i) {
    files.push_back(NewFile(fmt::format("batched-{}", i)));
    ASSERT_EQ(a.Inodelk(files.back(), proto::WRITE, 0, 0, false, 0, 10 + i), 0);
  }
  auto counters = [&](const Gfid& g) {
    proto::XattropRequest x;
    x.set_gfid(G(g));
    proto::XattropReply xr;
    ClientContext c;
    EXPECT_TRUE(brick_.stub().Xattrop(&c, x, &xr).ok());
    return std::map<std::string, int64_t>(xr.values().begin(), xr.values().end());
  };
  for (const Gfid& g : files) {  // the pre-ops the locks would have carried
    proto::XattropRequest x;
    x.set_gfid(G(g));
    (*x.mutable_deltas())["pending.data.1"] = 1;
    proto::XattropReply xr;
    ClientContext c;
    ASSERT_TRUE(brick_.stub().Xattrop(&c, x, &xr).ok());
  }
  proto::ReleaseLocksRequest req;
  req.set_session_id("client-a");
  for (int i = 0; i < 3; ++i) {
    auto* u = req.add_unlock();
    u->set_session_id("client-b");  // ignored: the request's session owns the locks
    u->set_gfid(G(files[i]));
    u->set_domain("data");
    u->set_type(proto::UNLOCK);
    u->set_owner(10 + i);
    if (i != 1) {  // file 1 is released without its post-op (a brick that failed stays accused)
      auto* op = u->add_post_op();
      op->set_gfid(G(files[i]));
      (*op->mutable_deltas())["pending.data.1"] = -1;
    }
  }
  auto* not_unlock = req.add_unlock();  // a lock request has no place in a release batch
  not_unlock->set_gfid(G(files[0]));
  not_unlock->set_domain("data");
  not_unlock->set_type(proto::WRITE);
  not_unlock->set_owner(99);
  auto* bad_gfid = req.add_unlock();
  bad_gfid->set_gfid("short");
  bad_gfid->set_type(proto::UNLOCK);
  proto::ReleaseLocksReply rep;
  {
    ClientContext c;
    ASSERT_TRUE(a.stub().ReleaseLocks(&c, req, &rep).ok());
  }
  ASSERT_EQ(rep.result_size(), 5);
  EXPECT_EQ(rep.result(0), 0);
  EXPECT_EQ(rep.result(1), 0);
  EXPECT_EQ(rep.result(2), 0);
  EXPECT_EQ(rep.result(3), EINVAL);
  EXPECT_EQ(rep.result(4), EINVAL);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.Inodelk(files[i], proto::WRITE, 0, 0), 0) << "file " << i << " still locked";
    EXPECT_EQ(counters(files[i]).count("pending.data.1"), i == 1 ? 1u : 0u) << "file " << i;
  }
  // Without an open session the call is refused as a whole.
  req.set_session_id("no-such-session");
  ClientContext c;
  EXPECT_EQ(a.stub().ReleaseLocks(&c, req, &rep).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

// A file unlinked while its eager lock's release is still queued (close, then rm, within the
// release's gather delay): the release's post-op finds the file gone and leaves nothing behind.
// It used to be applied anyway, to counters that the unlink had already removed: −1 for every
// brick of a gfid that no longer exists, a heal-index entry that nothing could ever heal.
TEST_F(BrickLocksTest, AReleaseAfterTheFileWasUnlinkedLeavesNoCounters) {
  Session a(brick_, "client-a");
  auto heal_index_size = [&] {
    proto::HealIndexRequest hi;
    proto::HealIndexReply hr;
    ClientContext c;
    EXPECT_TRUE(brick_.stub().HealIndex(&c, hi, &hr).ok());
    return hr.gfids_size();
  };
  for (bool batched : {true, false}) {
    std::string name = batched ? "released-in-a-batch" : "released-alone";
    Gfid f = NewFile(name);
    ASSERT_EQ(a.Inodelk(f, proto::WRITE, 0, 0, false, 0, 7), 0);
    proto::XattropRequest x;  // the pre-op the lock carried
    x.set_gfid(G(f));
    (*x.mutable_deltas())["pending.data.0"] = 1;
    (*x.mutable_deltas())["pending.data.1"] = 1;
    proto::XattropReply xr;
    {
      ClientContext c;
      ASSERT_TRUE(brick_.stub().Xattrop(&c, x, &xr).ok());
      ASSERT_EQ(xr.err(), 0);
    }
    EXPECT_EQ(heal_index_size(), 1) << name;
    proto::NameRequest u;
    u.set_parent(G(Gfid::Root()));
    u.set_name(name);
    proto::EntryReply er;
    {
      ClientContext c;
      ASSERT_TRUE(a.stub().Unlink(&c, u, &er).ok());
      ASSERT_EQ(er.err(), 0);
    }
    EXPECT_EQ(heal_index_size(), 0) << name << ": the unlink leaves the gfid's counters behind";
    proto::InodelkRequest l;
    l.set_session_id(a.id());
    l.set_gfid(G(f));
    l.set_domain("data");
    l.set_type(proto::UNLOCK);
    l.set_owner(7);
    auto* op = l.add_post_op();
    op->set_gfid(G(f));
    (*op->mutable_deltas())["pending.data.0"] = -1;
    (*op->mutable_deltas())["pending.data.1"] = -1;
    if (batched) {
      proto::ReleaseLocksRequest req;
      req.set_session_id(a.id());
      *req.add_unlock() = l;
      proto::ReleaseLocksReply rep;
      ClientContext c;
      ASSERT_TRUE(a.stub().ReleaseLocks(&c, req, &rep).ok());
      ASSERT_EQ(rep.result_size(), 1);
      EXPECT_EQ(rep.result(0), 0);
    } else {
      proto::ErrReply rep;
      ClientContext c;
      ASSERT_TRUE(a.stub().Inodelk(&c, l, &rep).ok());
      EXPECT_EQ(rep.err(), 0);
    }
    EXPECT_EQ(heal_index_size(), 0) << name << ": the late post-op left counters for a gfid that is gone";
    // And a pre-op on it is refused: nothing to accuse on a file that is not there.
    ClientContext c;
    ASSERT_TRUE(brick_.stub().Xattrop(&c, x, &xr).ok());
    EXPECT_EQ(xr.err(), ENOENT);
    EXPECT_EQ(heal_index_size(), 0);
  }
  // Counters of a file that went behind the brick's back (removed on the brick by hand, or
  // left by an older brick as above) are dropped when the heal index is read.
  Gfid f = NewFile("removed-by-hand");
  proto::XattropRequest x;
  x.set_gfid(G(f));
  (*x.mutable_deltas())["pending.data.1"] = 1;
  proto::XattropReply xr;
  {
    ClientContext c;
    ASSERT_TRUE(brick_.stub().Xattrop(&c, x, &xr).ok());
  }
  std::string id = f.ToString();
  ASSERT_EQ(::unlink((brick_.dir() + "/removed-by-hand").c_str()), 0);
  ASSERT_EQ(::unlink((brick_.dir() + "/.hafs/objects/" + id.substr(0, 2) + "/" + id).c_str()), 0);
  EXPECT_EQ(heal_index_size(), 0) << "a gone file is listed for heal";
  proto::HealIndexRequest hi;
  proto::HealIndexReply hr;
  ClientContext c;
  ASSERT_TRUE(brick_.stub().HealIndex(&c, hi, &hr).ok());
  EXPECT_EQ(hr.total(), 0u);
}

TEST_F(BrickLocksTest, LocksDieWithTheClientConnection) {
  Gfid f = NewFile("f");
  Session b(brick_, "client-b");
  auto a = std::make_unique<Session>(brick_, "client-a");
  ASSERT_EQ(a->Inodelk(f, proto::WRITE, 0, 0), 0);
  ASSERT_EQ(a->Entrylk(Gfid::Root(), "f", proto::WRITE), 0);
  std::atomic<int> got{-1};
  std::thread waiter([&] { got = b.Inodelk(f, proto::WRITE, 0, 0, true, 10000); });
  std::this_thread::sleep_for(100ms);
  auto killed = std::chrono::steady_clock::now();
  a->Kill();
  waiter.join();
  EXPECT_EQ(got.load(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 3s);
  EXPECT_EQ(b.Entrylk(Gfid::Root(), "f", proto::WRITE), 0);
}

TEST_F(BrickLocksTest, LocksDieWhenTheLeaseExpires) {
  Gfid f = NewFile("f");
  // A client that keeps its connection but goes silent (hung, partitioned) loses its locks.
  Session a(brick_, "silent", 400);
  Session b(brick_, "client-b");
  ASSERT_EQ(a.Inodelk(f, proto::WRITE, 0, 0), 0);
  EXPECT_EQ(b.Inodelk(f, proto::WRITE, 0, 0), EAGAIN);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(b.Inodelk(f, proto::WRITE, 0, 0, true, 5000), 0);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 2s);
  // A live client that heartbeats keeps its lease.
  Session c(brick_, "alive", 400);
  Gfid g = NewFile("g");
  ASSERT_EQ(c.Inodelk(g, proto::WRITE, 0, 0), 0);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(c.Heartbeat(i));
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(b.Inodelk(g, proto::WRITE, 0, 0), EAGAIN);
}

TEST_F(BrickLocksTest, DuplicateSessionIdIsRefused) {
  Session a(brick_, "same-id");
  auto channel = brick_.NewChannel();
  auto stub = proto::Brick::NewStub(channel);
  ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto stream = stub->Session(&ctx);
  proto::SessionMessage hello;
  hello.mutable_hello()->set_session_id("same-id");
  stream->Write(hello);
  stream->WritesDone();
  proto::SessionEvent ev;
  EXPECT_FALSE(stream->Read(&ev));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(BrickLocksTest, XattropIsAtomicUnderConcurrentCallers) {
  Gfid f = NewFile("f");
  constexpr int kThreads = 8, kEach = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::mutex first_failure_mu;
  std::string first_failure;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto channel = brick_.NewChannel();
      auto stub = proto::Brick::NewStub(channel);
      for (int i = 0; i < kEach; ++i) {
        proto::XattropRequest r;
        r.set_gfid(G(f));
        (*r.mutable_deltas())["pending.data.b1"] = 1;
        (*r.mutable_deltas())["pending.data.b2"] = (t % 2) ? 2 : -2;
        proto::XattropReply rep;
        ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 20s);
        auto st = stub->Xattrop(&ctx, r, &rep);
        if (st.ok() && rep.err() == 0) continue;
        failures++;
        std::lock_guard lock(first_failure_mu);
        if (first_failure.empty())
          first_failure = fmt::format("thread {} call {}: grpc {} '{}', err {}", t, i, static_cast<int>(st.error_code()),
                                      st.error_message(), rep.err());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  proto::XattropRequest r;
  r.set_gfid(G(f));
  proto::XattropReply rep;
  ClientContext c1;
  ASSERT_TRUE(brick_.stub().Xattrop(&c1, r, &rep).ok());
  EXPECT_EQ(rep.values().at("pending.data.b1"), kThreads * kEach);
  EXPECT_EQ(rep.values().count("pending.data.b2"), 0u);  // +2/-2 cancelled out exactly

  proto::HealIndexRequest hi;
  proto::HealIndexReply hr;
  ClientContext c2;
  ASSERT_TRUE(brick_.stub().HealIndex(&c2, hi, &hr).ok());
  ASSERT_EQ(hr.gfids_size(), 1);
  EXPECT_EQ(hr.gfids(0), G(f));
  EXPECT_EQ(hr.total(), 1u);

  (*r.mutable_deltas())["pending.data.b1"] = -kThreads * kEach;
  ClientContext c3;
  ASSERT_TRUE(brick_.stub().Xattrop(&c3, r, &rep).ok());
  EXPECT_TRUE(rep.values().empty());
  ClientContext c4;
  ASSERT_TRUE(brick_.stub().HealIndex(&c4, hi, &hr).ok());
  EXPECT_EQ(hr.gfids_size(), 0);

  (*r.mutable_deltas())["x"] = 1;
  r.set_gfid(G(Gfid::Random()));
  ClientContext c5;
  ASSERT_TRUE(brick_.stub().Xattrop(&c5, r, &rep).ok());
  EXPECT_EQ(rep.err(), ENOENT);
}

TEST_F(BrickLocksTest, OtherClientsAreToldOfChanges) {
  Gfid f = NewFile("f");
  Session watcher(brick_, "watcher");
  Session writer(brick_, "writer");
  // The writer's own change is not echoed to it; the watcher hears of it.
  proto::WriteRequest w;
  w.set_gfid(G(f));
  w.set_data("new content");
  proto::WriteReply wr;
  ClientContext ctx;
  ctx.AddMetadata("hafs-session", writer.id());
  ASSERT_TRUE(writer.stub().Write(&ctx, w, &wr).ok());
  proto::SessionEvent ev;
  ASSERT_TRUE(watcher.NextEvent(&ev));
  ASSERT_TRUE(ev.has_invalidate());
  EXPECT_EQ(ev.invalidate().gfid(), G(f));
  // A heartbeat is acknowledged in order after it.
  ASSERT_TRUE(writer.Heartbeat(7));
  ASSERT_TRUE(writer.NextEvent(&ev));
  ASSERT_TRUE(ev.has_ack()) << "the writer got its own invalidation";
  EXPECT_EQ(ev.ack().seq(), 7u);
}

TEST_F(BrickLocksTest, OpenFileSurvivesUnlinkUntilReleased) {
  Gfid f = NewFile("f");
  Session s(brick_, "opener");
  proto::WriteRequest w;
  w.set_gfid(G(f));
  w.set_data("still here");
  proto::WriteReply wr;
  ClientContext c0;
  ASSERT_TRUE(s.stub().Write(&c0, w, &wr).ok());
  proto::OpenRequest o;
  o.set_gfid(G(f));
  o.set_session_id(s.id());
  proto::OpenReply orep;
  ClientContext c1;
  ASSERT_TRUE(s.stub().Open(&c1, o, &orep).ok());
  ASSERT_EQ(orep.err(), 0);
  proto::NameRequest u;
  u.set_parent(G(Gfid::Root()));
  u.set_name("f");
  proto::EntryReply er;
  ClientContext c2;
  ASSERT_TRUE(s.stub().Unlink(&c2, u, &er).ok());
  ASSERT_EQ(er.err(), 0);
  proto::ReadRequest r;
  r.set_gfid(G(f));
  r.set_size(100);
  proto::ReadReply rr;
  ClientContext c3;
  ASSERT_TRUE(s.stub().Read(&c3, r, &rr).ok());
  EXPECT_EQ(rr.data(), "still here");
  // When the client goes away, the last reference goes and the data with it.
  s.Kill();
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    proto::GfidRequest g;
    g.set_gfid(G(f));
    proto::AttrReply ar;
    ClientContext c4;
    ASSERT_TRUE(brick_.stub().Getattr(&c4, g, &ar).ok());
    gone = ar.err() == ENOENT;
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace hafs::testing
