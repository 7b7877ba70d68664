// auth.allow / auth.reject enforced by a real hafs-brickd: every call (and the session
// stream) of a refused address gets PERMISSION_DENIED naming the address and the rule;
// reject wins over allow; the pool's internal key passes; SIGHUP applies a new auth file to
// later calls and to open sessions. The tests connect from 127.0.0.1.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/brickd_process.h"

namespace hafs::testing {
namespace {

using grpc::ClientContext;
using grpc::StatusCode;
using namespace std::chrono_literals;

grpc::Status Ping(BrickdProcess& b, const std::string& key = "") {
  ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  if (!key.empty()) ctx.AddMetadata("hafs-internal", key);
  proto::PingRequest req;
  proto::PingReply rep;
  return b.stub().Ping(&ctx, req, &rep);
}

grpc::Status Lookup(BrickdProcess& b) {
  ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  proto::EntryRequest req;
  req.set_parent(G(Gfid::Root()));
  req.set_name("nothing-here");
  proto::EntryReply rep;
  return b.stub().Lookup(&ctx, req, &rep);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);
}

TEST(BrickAuthTest, AllowListExcludingTheClientRefusesEveryCall) {
  BrickdProcess b("", {"--auth-allow", "127.0.0.2"});
  auto st = Ping(b);
  ASSERT_EQ(st.error_code(), StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("127.0.0.1"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("auth.allow '127.0.0.2'"), std::string::npos) << st.error_message();
  EXPECT_EQ(Lookup(b).error_code(), StatusCode::PERMISSION_DENIED);

  // The session stream is refused too (that is what a mounting client sees).
  ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto stream = b.stub().Session(&ctx);
  proto::SessionMessage hello;
  hello.mutable_hello()->set_session_id(Gfid::Random().ToString());
  hello.mutable_hello()->set_lease_ms(3000);
  stream->Write(hello);
  proto::SessionEvent ev;
  EXPECT_FALSE(stream->Read(&ev));
  auto fin = stream->Finish();
  EXPECT_EQ(fin.error_code(), StatusCode::PERMISSION_DENIED) << fin.error_message();
}

TEST(BrickAuthTest, AllowListIncludingTheClientServes) {
  for (const char* allow : {"127.0.0.*", "127.0.0.1", "10.0.0.0/8,127.0.0.0/8", "*", "192.168.1.5,127.0.0.1"}) {
    BrickdProcess b("", {"--auth-allow", allow});
    EXPECT_TRUE(Ping(b).ok()) << allow << ": " << Ping(b).error_message();
    EXPECT_TRUE(Lookup(b).ok()) << allow;
  }
}

TEST(BrickAuthTest, RejectWinsOverAllow) {
  BrickdProcess b("", {"--auth-allow", "127.0.0.*", "--auth-reject", "127.0.0.0/24"});
  auto st = Ping(b);
  ASSERT_EQ(st.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(st.error_message().find("auth.reject '127.0.0.0/24'"), std::string::npos) << st.error_message();
  // A reject list that does not match leaves the client served.
  BrickdProcess ok("", {"--auth-reject", "127.0.0.2,10.*"});
  EXPECT_TRUE(Ping(ok).ok());
}

TEST(BrickAuthTest, BadListIsRefusedAtStart) {
  std::string dir = "/tmp/hafs-auth-bad-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string out;
  int rc = RunToCompletion({BrickdPath(), "--brick-path", dir, "--volume-id", kVolumeId, "--auth-allow",
                            "127.0.0.1,not-an-address"},
                           &out);
  std::filesystem::remove_all(dir);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("auth.allow item 'not-an-address'"), std::string::npos) << out;
}

TEST(BrickAuthTest, InternalKeyAndLiveReloadBySighup) {
  std::string file = "/tmp/hafs-auth-" + std::to_string(::getpid()) + ".auth";
  WriteFile(file, "allow=127.0.0.2\ninternal-key=secret-key-1\n");
  BrickdProcess b("", {"--auth-file", file});
  EXPECT_EQ(Ping(b).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Ping(b, "secret-key-1").ok());  // mgmtd's own clients (heal daemon)
  EXPECT_EQ(Ping(b, "secret-key-2").error_code(), StatusCode::PERMISSION_DENIED);

  // Open a session with the key, then take the key away: the session ends, refused.
  ClientContext sctx;
  sctx.AddMetadata("hafs-internal", "secret-key-1");
  auto stream = b.stub().Session(&sctx);
  proto::SessionMessage hello;
  hello.mutable_hello()->set_session_id(Gfid::Random().ToString());
  hello.mutable_hello()->set_lease_ms(3000);
  ASSERT_TRUE(stream->Write(hello));
  proto::SessionEvent ev;
  ASSERT_TRUE(stream->Read(&ev));
  ASSERT_TRUE(ev.has_welcome());

  // Live: allow everyone (SIGHUP), then refuse 127.0.0.1 with no key.
  WriteFile(file, "allow=*\n");
  ::kill(b.pid(), SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!Ping(b).ok() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(Ping(b).ok());

  WriteFile(file, "allow=*\nreject=127.0.0.1\n");
  ::kill(b.pid(), SIGHUP);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (Ping(b).ok() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  auto st = Ping(b);
  EXPECT_EQ(st.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(st.error_message().find("auth.reject '127.0.0.1'"), std::string::npos) << st.error_message();

  // The open session is cut at its next message.
  proto::SessionMessage hb;
  hb.mutable_heartbeat()->set_seq(1);
  stream->Write(hb);
  bool ended = false;
  for (int i = 0; i < 50 && !ended; ++i) {
    if (!stream->Read(&ev)) ended = true;
    else stream->Write(hb);
  }
  EXPECT_TRUE(ended);
  EXPECT_EQ(stream->Finish().error_code(), StatusCode::PERMISSION_DENIED);

  // A broken file keeps the previous rules.
  WriteFile(file, "allow=nonsense\n");
  ::kill(b.pid(), SIGHUP);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Ping(b).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(b.running());
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace hafs::testing
