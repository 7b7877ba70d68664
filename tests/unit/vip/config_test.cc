#include "vip/config.h"

#include <sys/socket.h>

#include <gtest/gtest.h>

namespace hafs::vip {
namespace {

constexpr const char* kThesis = R"(
! Configuration File for keepalived (thesis director setup)
global_defs {
   router_id LVS_DEVEL
   notify_fifo /run/vip.fifo
}
vrrp_script chk_lb {
    script "/usr/bin/curl -fs http://127.0.0.1/health"
    interval 0.5
    fall 2
    rise 2
    weight 0
}
vrrp_sync_group VG1 {
   group {
      VI_EXT
      VI_INT
   }
   notify_master "/etc/vip/group.sh master"
}
vrrp_instance VI_EXT {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        10.99.0.100/24 dev eth0 label eth0:vip
        10.99.0.101
    }
    unicast_src_ip 10.99.0.1
    unicast_peer {
        10.99.0.2
        10.99.0.3
    }
    track_script {
        chk_lb
    }
    track_interface {
        eth1 weight -20
    }
    notify_master "/etc/vip/notify.sh master"   # trailing comment
    notify_backup /etc/vip/notify.sh backup
    preempt_delay 2
}
vrrp_instance VI_INT {
    interface eth1
    virtual_router_id 52
    priority 150
    version 3
    advert_int 0.02
    nopreempt
    virtual_ipaddress {
        10.98.0.100
    }
}
)";

TEST(VipConfig, ParsesTheThesisSetup) {
  auto c = ParseConfig(kThesis, "k.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->global.router_id, "LVS_DEVEL");
  EXPECT_EQ(c->global.notify_fifo, "/run/vip.fifo");
  ASSERT_EQ(c->scripts.size(), 1u);
  EXPECT_EQ(c->scripts[0].command, "/usr/bin/curl -fs http://127.0.0.1/health");
  EXPECT_EQ(c->scripts[0].interval.count(), 500);
  EXPECT_EQ(c->scripts[0].timeout.count(), 500);
  EXPECT_EQ(c->scripts[0].fall, 2);
  ASSERT_EQ(c->instances.size(), 2u);
  const auto& e = c->instances[0];
  EXPECT_TRUE(e.initial_master);
  EXPECT_EQ(e.vrid, 51);
  EXPECT_EQ(e.version, 2);  // global default
  EXPECT_EQ(e.advert_cs, 100);
  EXPECT_EQ(e.auth_type, 1);
  EXPECT_EQ(e.auth_pass, "s3cret");
  ASSERT_EQ(e.vips.size(), 2u);
  EXPECT_EQ(e.vips[0].prefix, 24);
  EXPECT_EQ(e.vips[0].label, "eth0:vip");
  EXPECT_EQ(e.vips[1].prefix, 32);
  EXPECT_EQ(e.unicast_peers.size(), 2u);
  ASSERT_TRUE(e.unicast_src.has_value());
  ASSERT_EQ(e.track_interfaces.size(), 1u);
  EXPECT_EQ(*e.track_interfaces[0].weight, -20);
  EXPECT_EQ(e.notify_master, "/etc/vip/notify.sh master");
  EXPECT_EQ(e.notify_backup, "/etc/vip/notify.sh backup");
  EXPECT_EQ(e.preempt_delay.count(), 2000);
  const auto& i = c->instances[1];
  EXPECT_EQ(i.version, 3);
  EXPECT_EQ(i.advert_cs, 2);
  EXPECT_TRUE(i.nopreempt);
  ASSERT_EQ(c->groups.size(), 1u);
  EXPECT_EQ(c->groups[0].members.size(), 2u);
}

void ExpectError(const std::string& text, const std::string& needle) {
  auto c = ParseConfig(text, "bad.conf");
  ASSERT_FALSE(c.ok()) << "accepted: " << text;
  EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
}

const std::string kMin = "vrrp_instance V {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n";

TEST(VipConfig, UnknownKeywordNamesTheLine) {
  ExpectError(kMin + " bogus_keyword 1\n}\n", "bad.conf:7: unknown keyword 'bogus_keyword' in vrrp_instance");
  ExpectError("global_defs {\n  lvs_sync_daemon x\n}\n", "bad.conf:2: unknown keyword 'lvs_sync_daemon'");
  ExpectError("virtual_server 10.0.0.1 80 {\n}\n", "bad.conf:1: unknown keyword 'virtual_server' in top level");
}

TEST(VipConfig, RejectsBadValues) {
  ExpectError(kMin + " priority 256\n}\n", "bad.conf:7");
  ExpectError(kMin + " priority 0\n}\n", "not an integer in [1, 255]");
  ExpectError("vrrp_instance V {\n interface eth0\n virtual_router_id 0\n}\n", "bad.conf:3");
  ExpectError(kMin + " advert_int 0.5\n}\n", "whole seconds");
  ExpectError(kMin + " version 3\n advert_int 0.005\n}\n", "bad.conf:8");
  ExpectError(kMin + " authentication {\n auth_type AH\n }\n}\n", "only auth_type PASS");
  ExpectError("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.300\n }\n}\n",
              "bad.conf:5");
  ExpectError(kMin + " unicast_peer {\n fe80::1\n }\n}\n", "not an IPv4");
}

TEST(VipConfig, RejectsBrokenStructure) {
  ExpectError(kMin, "missing '}'");
  ExpectError(kMin + "}\n}\n", "unbalanced");
  ExpectError(kMin + " track_script {\n nosuch\n }\n}\n", "not a vrrp_script");
  ExpectError(kMin + "}\n" + kMin + "}\n", "duplicate vrrp_instance");
  ExpectError(kMin + "}\nvrrp_sync_group G {\n group {\n V\n W\n }\n}\n", "unknown instance 'W'");
  ExpectError("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n}\n", "no virtual_ipaddress");
  ExpectError("vrrp_script s {\n interval 1\n}\n", "has no 'script'");
}

TEST(VipConfig, QuorumGuard) {
  auto c = ParseConfig(kMin + " quorum_peer {\n 10.0.0.254\n 10.0.0.2\n }\n quorum_interval 0.2\n}\n", "q.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->instances[0].quorum_peers.size(), 2u);
  EXPECT_EQ(c->instances[0].quorum_min, 2);  // default: all peers
  EXPECT_EQ(c->instances[0].quorum_interval.count(), 200);
  ExpectError(kMin + " quorum_peer {\n 10.0.0.254\n }\n quorum_min 2\n}\n", "quorum_min 2 > 1");
  // Off by default, as in keepalived.
  auto d = ParseConfig(kMin + "}\n", "d.conf");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->instances[0].quorum_peers.empty());
}

TEST(VipConfig, ExcludedAddressesIncludingIpv6) {
  auto c = ParseConfig(kMin + " virtual_ipaddress_excluded {\n 2001:db8::100/64\n 10.1.0.1 dev eth1\n fe80::1\n }\n}\n", "x.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto& x = c->instances[0].excluded;
  ASSERT_EQ(x.size(), 3u);
  EXPECT_EQ(x[0].family, AF_INET6);
  EXPECT_EQ(x[0].prefix, 64);
  EXPECT_EQ(x[0].bytes[0], 0x20);
  EXPECT_EQ(x[0].bytes[15], 0x00);
  EXPECT_EQ(x[0].bytes[14], 0x01);
  EXPECT_EQ(x[1].family, AF_INET);
  EXPECT_EQ(x[1].prefix, 32);
  EXPECT_EQ(x[1].dev, "eth1");
  EXPECT_EQ(x[2].prefix, 128);
  ExpectError(kMin + " virtual_ipaddress_excluded {\n 2001:db8::1/129\n }\n}\n", "bad prefix");
  // IPv6 inside the advertised list is refused with a pointer to the right block.
  ExpectError("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 2001:db8::1\n }\n}\n",
              "virtual_ipaddress_excluded");
}

TEST(VipConfig, V3IgnoresAuthWithWarning) {
  auto c = ParseConfig(kMin + " version 3\n authentication {\n auth_type PASS\n auth_pass x\n }\n}\n", "w.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->instances[0].auth_type, 0);
  ASSERT_EQ(c->warnings.size(), 1u);
}

}  // namespace
}  // namespace hafs::vip
