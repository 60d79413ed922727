// sysvisor-fs's bookkeeping: the node table (ids stable across a restart through its log,
// forgets, containers dropped), the cgroup mount table read from mountinfo, the container
// table's snapshots and the start time parsed from /proc/<pid>/stat.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <iterator>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fusefs/container.h"
#include "fusefs/nodes.h"

using sv::fs::CgroupMounts;
using sv::fs::Container;
using sv::fs::ContainerData;
using sv::fs::ContainerTable;
using sv::fs::kRootNode;
using sv::fs::NodeTable;

namespace {

std::string tempLog() {
  char dir[] = "/tmp/svfsd-unit-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  return std::string(dir) + "/nodes.log";
}

}  // namespace

TEST_CASE("node ids are stable, distinct and survive a restart through the log") {
  std::string log = tempLog();
  uint64_t a, b, c;
  {
    NodeTable t(log);
    a = t.ref("c1", "/proc/uptime");
    b = t.ref("c1", "/proc/meminfo");
    c = t.ref("c2", "/proc/uptime");
    CHECK(a != b);
    CHECK(a != c);
    CHECK(a > kRootNode);
    CHECK(t.ref("c1", "/proc/uptime") == a);  // a second lookup, the same node
    CHECK(t.get(b)->path == "/proc/meminfo");
    CHECK_FALSE(t.get(12345).has_value());
  }
  NodeTable again(log);  // a restarted daemon
  REQUIRE(again.get(a).has_value());
  CHECK(again.get(a)->cid == "c1");
  CHECK(again.get(a)->path == "/proc/uptime");
  CHECK(again.get(c)->cid == "c2");
  CHECK(again.ref("c1", "/proc/meminfo") == b);
  again.retain({"c2"});
  CHECK_FALSE(again.get(a).has_value());
  CHECK(again.get(c).has_value());
  NodeTable third(log);  // the log was rewritten with c2's nodes only
  CHECK(third.size() == 1);
  third.drop("c2");
  CHECK(NodeTable(log).size() == 0);
}

TEST_CASE("a torn last line of the node log is skipped") {
  std::string log = tempLog();
  uint64_t a;
  {
    NodeTable t(log);
    a = t.ref("c1", "/proc/stat");
  }
  std::ofstream(log, std::ios::app) << "8000000000000001\tc1";  // cut short by a crash
  NodeTable t(log);
  CHECK(t.size() == 1);
  CHECK(t.get(a)->path == "/proc/stat");
}

TEST_CASE("a node lives as long as the kernel's lookups of it, or its container") {
  NodeTable t("");
  uint64_t a = t.ref("c1", "/proc/uptime");
  t.ref("c1", "/proc/uptime");
  t.forget(a, 1);
  CHECK(t.get(a).has_value());
  t.forget(a, 1);
  CHECK_FALSE(t.get(a).has_value());
  CHECK(t.ref("c1", "/proc/uptime") == a);  // looked up again: the same id
  uint64_t b = t.ref("c1", "/proc/stat");
  t.drop("c1");
  CHECK_FALSE(t.get(b).has_value());
}

TEST_CASE("the node log is compacted when lookups and forgets repeat") {
  std::string log = tempLog();
  {
    NodeTable t(log);
    for (int i = 0; i < 3000; ++i) {
      uint64_t a = t.ref("c1", "/proc/sys/kernel/panic");
      t.forget(a, 1);
      t.ref("c1", "/proc/sys/kernel/x" + std::to_string(i % 10));
    }
  }
  std::ifstream in(log);
  size_t lines = std::count(std::istreambuf_iterator<char>(in), {}, '\n');
  CHECK(lines < 5000);
  // The 10 live nodes, and at most the last forgotten one, which stays in the log until the
  // next compaction (harmless: the kernel never names it again).
  CHECK(NodeTable(log).size() <= 11);
  CHECK(NodeTable(log).size() >= 10);
}

TEST_CASE("cgroup mounts come from mountinfo: v1 controllers and the cgroup2 mount") {
  std::string mi =
      "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
      "32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
      "35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "36 30 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "37 30 0:33 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n";
  CgroupMounts m = CgroupMounts::fromMountinfo(mi);
  CHECK(m.v2 == "/sys/fs/cgroup/unified");
  CHECK(m.v1.at("cpu") == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(m.v1.at("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(m.v1.at("memory") == "/sys/fs/cgroup/memory");
  CHECK(m.v1.at("blkio") == "/sys/fs/cgroup/blkio");
  CHECK_FALSE(m.v1.contains("systemd"));
  CHECK_FALSE(m.v1.contains("cpuset"));
  CgroupMounts v2 = CgroupMounts::fromMountinfo(
      "29 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
  CHECK(v2.v2 == "/sys/fs/cgroup");
  CHECK(v2.v1.empty());
}

TEST_CASE("a container's cgroup paths open only beneath the hierarchy's mount point") {
  char dir[] = "/tmp/svfsd-cg-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  std::string root = dir;
  for (std::string d : {"/memory", "/memory/docker", "/memory/docker/c1", "/secret"})
    REQUIRE(::mkdir((root + d).c_str(), 0755) == 0);
  std::ofstream(root + "/memory/docker/c1/memory.limit_in_bytes") << "268435456\n";
  std::ofstream(root + "/secret/memory.limit_in_bytes") << "host\n";
  REQUIRE(::symlink((root + "/secret").c_str(), (root + "/memory/docker/link").c_str()) == 0);
  CgroupMounts m;
  m.v1.emplace("memory", root + "/memory");
  auto limitOf = [&](const std::string& line) {
    ContainerData d;
    d.id = "c1";
    d.cgroupLines = {line};
    return Container(d, m).cgroupFile(sv::fs::Hierarchy::kV1, "memory.limit_in_bytes");
  };
  CHECK(limitOf("4:memory:/docker/c1") == "268435456\n");
  CHECK_FALSE(limitOf("4:memory:/docker/../../secret"));  // not beneath the mount point
  CHECK_FALSE(limitOf("4:memory:/docker/link"));          // no symlink followed
  CHECK_FALSE(limitOf("4:memory:/docker/c2"));            // absent: no file, no error
  std::filesystem::remove_all(root);
}

TEST_CASE("the container table hands out snapshots that outlive changes") {
  ContainerTable t;
  ContainerData d;
  d.id = "c1";
  t.put(std::make_shared<Container>(d, CgroupMounts{}));
  auto snap = t.snapshot();
  d.id = "c2";
  t.put(std::make_shared<Container>(d, CgroupMounts{}));
  CHECK(snap->size() == 1);
  CHECK(t.snapshot()->size() == 2);
  auto c1 = t.find("c1");
  REQUIRE(c1);
  c1->setSysctl("kernel/panic", "5\n");
  CHECK(t.remove("c1") == c1);
  CHECK(c1->sysctl("kernel/panic") == "5\n");  // a reader still holding it is fine
  CHECK_FALSE(t.find("c1"));
  CHECK(t.remove("c1") == nullptr);
}

TEST_CASE("a process's start time is field 22 of its stat") {
  auto self = sv::fs::processStartTicks(::getpid());
  REQUIRE(self.has_value());
  CHECK(*self > 0);
  CHECK_FALSE(sv::fs::processStartTicks(999999999).has_value());
}
