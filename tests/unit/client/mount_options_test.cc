#include "client-fuse/mount_options.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace hafs::client {
namespace {

TEST(MountOptions, GlusterStyleOptions) {
  MountOptions m;
  ASSERT_TRUE(m.Parse("ro,backup-volfile-servers=h2:h3,log-level=WARNING,attribute-timeout=2.5,entry-timeout=0,"
                      "defaults,_netdev,noauto,x-systemd.automount")
                  .ok());
  EXPECT_TRUE(m.read_only);
  EXPECT_EQ(m.backup_servers, (std::vector<std::string>{"h2", "h3"}));
  EXPECT_EQ(m.log_level, "warn");
  EXPECT_DOUBLE_EQ(m.attribute_timeout, 2.5);
  EXPECT_DOUBLE_EQ(m.entry_timeout, 0);
  EXPECT_NE(m.FuseOptionString("gv0").find(",ro"), std::string::npos);
  EXPECT_NE(m.FuseOptionString("gv0").find("default_permissions"), std::string::npos);
}

TEST(MountOptions, RejectsUnknownAndBadValues) {
  MountOptions m;
  auto s = m.Parse("rw,frobnicate");
  EXPECT_EQ(s.err(), EINVAL);
  EXPECT_NE(s.message().find("frobnicate"), std::string::npos);
  EXPECT_FALSE(MountOptions().Parse("attribute-timeout=-1").ok());
  EXPECT_FALSE(MountOptions().Parse("entry-timeout=soon").ok());
}

TEST(MountOptions, ContentCacheOptions) {
  MountOptions m;
  EXPECT_EQ(m.quick_read_max, 64u << 10);
  EXPECT_EQ(m.cache_size, 64u << 20);
  EXPECT_DOUBLE_EQ(m.content_cache_timeout, 60);
  ASSERT_TRUE(m.Parse("quick-read-max=128KB,cache-size=16MB,content-cache-timeout=5").ok());
  EXPECT_EQ(m.quick_read_max, 128u << 10);
  EXPECT_EQ(m.cache_size, 16u << 20);
  EXPECT_DOUBLE_EQ(m.content_cache_timeout, 5);
  EXPECT_FALSE(MountOptions().Parse("quick-read-max=2MB").ok());  // above 1 MiB
  EXPECT_FALSE(MountOptions().Parse("cache-size=lots").ok());
  EXPECT_FALSE(MountOptions().Parse("content-cache-timeout=-3").ok());
}

TEST(MountOptions, MdCacheTimeout) {
  MountOptions m;
  EXPECT_DOUBLE_EQ(m.md_cache_timeout, 60);
  ASSERT_TRUE(m.Parse("md-cache-timeout=0").ok());  // 0: the layer passes everything through
  EXPECT_DOUBLE_EQ(m.md_cache_timeout, 0);
  ASSERT_TRUE(m.Parse("md-cache-timeout=600").ok());
  EXPECT_DOUBLE_EQ(m.md_cache_timeout, 600);
  EXPECT_FALSE(MountOptions().Parse("md-cache-timeout=-1").ok());
  EXPECT_FALSE(MountOptions().Parse("md-cache-timeout=soon").ok());
}

TEST(MountOptions, ReadAheadWindow) {
  MountOptions m;
  EXPECT_EQ(m.read_ahead_window, 8u << 20);
  ASSERT_TRUE(m.Parse("read-ahead-window=32MB").ok());
  EXPECT_EQ(m.read_ahead_window, 32u << 20);
  ASSERT_TRUE(m.Parse("read-ahead-window=0").ok());  // 0: no prefetching
  EXPECT_EQ(m.read_ahead_window, 0u);
  EXPECT_FALSE(MountOptions().Parse("read-ahead-window=-1").ok());
  EXPECT_FALSE(MountOptions().Parse("read-ahead-window=big").ok());
}

TEST(MountOptions, NoOpen) {
  EXPECT_FALSE(MountOptions().NoOpen());  // rw: off by default
  MountOptions ro;
  ASSERT_TRUE(ro.Parse("ro").ok());
  EXPECT_TRUE(ro.NoOpen());  // ro: on by default
  MountOptions ro_off;
  ASSERT_TRUE(ro_off.Parse("ro,no-open=off").ok());
  EXPECT_FALSE(ro_off.NoOpen());
  for (const char* on : {"no-open", "no-open=on", "no-open=1"}) {
    MountOptions m;
    ASSERT_TRUE(m.Parse(on).ok()) << on;
    EXPECT_TRUE(m.NoOpen()) << on;
  }
  EXPECT_FALSE(MountOptions().Parse("no-open=yes").ok());
}

TEST(MountOptions, FlushBehind) {
  EXPECT_FALSE(MountOptions().flush_behind);  // close waits for the writes by default
  for (const char* on : {"flush-behind", "flush-behind=on", "flush-behind=1"}) {
    MountOptions m;
    ASSERT_TRUE(m.Parse(on).ok()) << on;
    EXPECT_TRUE(m.flush_behind) << on;
  }
  MountOptions off;
  ASSERT_TRUE(off.Parse("flush-behind,flush-behind=off").ok());
  EXPECT_FALSE(off.flush_behind);
  EXPECT_FALSE(MountOptions().Parse("flush-behind=sometimes").ok());
}

TEST(MountOptions, ReaddirPrefetch) {
  EXPECT_EQ(MountOptions().readdir_prefetch, 0u);  // off by default
  for (auto [opt, want] : std::vector<std::pair<const char*, size_t>>{
           {"readdir-prefetch", 4}, {"readdir-prefetch=on", 4}, {"readdir-prefetch=8", 8},
           {"readdir-prefetch=4,readdir-prefetch=off", 0}, {"readdir-prefetch=0", 0}}) {
    MountOptions m;
    ASSERT_TRUE(m.Parse(opt).ok()) << opt;
    EXPECT_EQ(m.readdir_prefetch, want) << opt;
  }
  for (const char* bad : {"readdir-prefetch=33", "readdir-prefetch=-1", "readdir-prefetch=many", "readdir-prefetch=123"})
    EXPECT_FALSE(MountOptions().Parse(bad).ok()) << bad;
  EXPECT_EQ(MountOptions().FuseOptionString("v").find("flush"), std::string::npos);
}

TEST(MountOptions, DefaultLogFileNamesTheMountpoint) {
  MountOptions m;
  m.mountpoint = "/var/www/html";
  EXPECT_EQ(m.DefaultLogFile(), "/var/log/hafs/var-www-html.log");
}

}  // namespace
}  // namespace hafs::client
