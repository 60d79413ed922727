// Cgroup path resolution, the shared-root guard and the devices rules, against fixtures and
// a fake cgroup tree in a temp dir (no privileges).
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/devices.h"
#include "nsutil/plan.h"

using namespace sv;

namespace {

constexpr const char* kHybrid =
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

constexpr const char* kSelf =
    "5:devices:/\n4:memory:/user.slice/session-1\n3:name=systemd:/user.slice\n"
    "1:cpu,cpuacct:/\n0::/user.slice/session-1.scope\n";

std::vector<ns::CgroupHierarchy> layout(const char* mountinfo) {
  ns::PlanOptions po;
  ns::parseCgroupLayout(mountinfo, po);
  return po.cgroupHierarchies;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/sv-cgroup-test-XXXXXX";
    REQUIRE(::mkdtemp(t));
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("resolvePaths: empty cgroupsPath is <runtime's cgroup>/<id> in every hierarchy",
          "[cgroup]") {
  auto dirs = cg::resolvePaths(layout(kHybrid), "", "c1", kSelf);
  REQUIRE(dirs.size() == 5);
  CHECK(dirs[0].path == "/sys/fs/cgroup/cpu,cpuacct/c1");
  CHECK(dirs[0].controllers == "cpu,cpuacct");
  CHECK(dirs[1].path == "/sys/fs/cgroup/memory/user.slice/session-1/c1");
  CHECK(dirs[1].origin == "/sys/fs/cgroup/memory/user.slice/session-1");
  CHECK(dirs[3].path == "/sys/fs/cgroup/systemd/user.slice/c1");
  CHECK(dirs[4].v2);
  CHECK(dirs[4].path == "/sys/fs/cgroup/unified/user.slice/session-1.scope/c1");
  CHECK(dirs[4].mountpoint == "/sys/fs/cgroup/unified");
}

TEST_CASE("resolvePaths: absolute paths start at each root, relative ones below ours",
          "[cgroup]") {
  auto abs = cg::resolvePaths(layout(kHybrid), "/docker/abc", "abc", kSelf);
  CHECK(abs[1].path == "/sys/fs/cgroup/memory/docker/abc");
  CHECK(abs[4].path == "/sys/fs/cgroup/unified/docker/abc");
  auto rel = cg::resolvePaths(layout(kHybrid), "sub/abc", "abc", kSelf);
  CHECK(rel[1].path == "/sys/fs/cgroup/memory/user.slice/session-1/sub/abc");
  auto clean = cg::resolvePaths(layout(kHybrid), "/a/../../b", "x", kSelf);
  CHECK(clean[0].path == "/sys/fs/cgroup/cpu,cpuacct/b");
}

TEST_CASE("v1Dir finds a controller inside co-mounted hierarchies", "[cgroup]") {
  auto dirs = cg::resolvePaths(layout(kHybrid), "/x", "x", kSelf);
  REQUIRE(cg::v1Dir(dirs, "cpuacct"));
  CHECK(cg::v1Dir(dirs, "cpuacct")->path == "/sys/fs/cgroup/cpu,cpuacct/x");
  REQUIRE(cg::v1Dir(dirs, "devices"));
  CHECK(cg::v1Dir(dirs, "pids") == nullptr);
  CHECK(cg::v1Dir(dirs, "cpuac") == nullptr);
}

TEST_CASE("refuseSharedRoots: hierarchy roots and the runtime's own cgroup are refused",
          "[cgroup]") {
  CHECK_THROWS_WITH(cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), "/", "x", kSelf)),
                    Catch::Contains("root of the hierarchy"));
  CHECK_THROWS_WITH(
      cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), ".", "x", kSelf)),
      Catch::Contains("cgroup"));
  CHECK_NOTHROW(cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), "", "x", kSelf)));
  CHECK_NOTHROW(cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), "/docker/x", "x", kSelf)));
}

TEST_CASE("deviceRules: spec rules, then runc's allow list, then linux.devices", "[cgroup]") {
  oci::Device fuse;
  fuse.type = 'c';
  fuse.path = "/dev/fuse";
  fuse.major = 10;
  fuse.minor = 229;
  auto rules = cg::deviceRules(
      R"({"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":8,"access":"r"}]})",
      {fuse});
  REQUIRE(rules.size() == 2 + 11 + 1);
  CHECK(cg::v1RuleText(rules[0]) == "a");
  CHECK_FALSE(rules[0].allow);
  CHECK(cg::v1RuleText(rules[1]) == "b 8:* r");
  CHECK(cg::v1RuleText(rules[2]) == "c *:* m");
  CHECK(cg::v1RuleText(rules[4]) == "c 1:3 rwm");
  CHECK(cg::v1RuleText(rules.back()) == "c 10:229 rwm");
  CHECK(rules.back().allow);
  CHECK_THROWS_AS(cg::deviceRules(R"({"devices":[{"type":"x"}]})", {}), UserError);
  CHECK_THROWS_AS(cg::deviceRules(R"({"devices":[{"access":"rwx"}]})", {}), UserError);
  CHECK(cg::deviceRules("", {}).size() == 11);
}

TEST_CASE("applyDevicesV1 writes deny and allow rules in order to a fake cgroup", "[cgroup]") {
  TempDir t;
  // A fake v1 devices cgroup: regular files keep only the last rule written to each, which
  // shows that the deny went to devices.deny and the allow to devices.allow.
  std::ofstream(t.path + "/devices.allow").close();
  std::ofstream(t.path + "/devices.deny").close();
  cg::applyDevicesV1({{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}}, t.path);
  CHECK(readFile(t.path + "/devices.deny") == "a");
  CHECK(readFile(t.path + "/devices.allow") == "c 1:3 rwm");
  CHECK_THROWS_AS(cg::applyDevicesV1({{true, 'c', 1, 3, "rwm"}}, t.path + "/missing"), SysError);
}

TEST_CASE("create makes missing directories and reports them; destroy removes the tree",
          "[cgroup]") {
  TempDir t;
  std::string a = t.path + "/cpu/docker/c1", b = t.path + "/memory/c1";
  ::mkdir((t.path + "/cpu").c_str(), 0755);
  ::mkdir((t.path + "/memory").c_str(), 0755);
  auto created = cg::create({a, b});
  CHECK(created == std::vector<std::string>{t.path + "/cpu/docker", a, b});
  ::mkdir((a + "/nested").c_str(), 0755);
  CHECK(cg::procs({a, b}).empty());
  cg::destroy({a, b});
  CHECK(::access(a.c_str(), F_OK) != 0);
  CHECK(::access(b.c_str(), F_OK) != 0);
  CHECK(::access((t.path + "/cpu/docker").c_str(), F_OK) == 0);  // parents stay, like runc
  CHECK_NOTHROW(cg::destroy({a}));                                // already gone is fine
}

TEST_CASE("procs lists a cgroup and its sub-cgroups", "[cgroup]") {
  TempDir t;
  std::string a = t.path + "/c1";
  ::mkdir(a.c_str(), 0755);
  ::mkdir((a + "/inner").c_str(), 0755);
  std::ofstream(a + "/cgroup.procs") << "10\n11\n";
  std::ofstream(a + "/inner/cgroup.procs") << "12\n";
  auto pids = cg::procs({t.path + "/missing", a});
  std::sort(pids.begin(), pids.end());
  CHECK(pids == std::vector<pid_t>{10, 11, 12});
}

TEST_CASE("parseCgroupLayout decodes mountinfo's octal escapes in mount points", "[cgroup]") {
  auto h = layout("50 31 0:40 / /sys/fs/cgroup/net_cls\\040x rw - cgroup cgroup rw,net_cls\n");
  REQUIRE(h.size() == 1);
  CHECK(h[0].mountpoint == "/sys/fs/cgroup/net_cls x");
  CHECK(h[0].superOpts == "net_cls");
}

#include <fcntl.h>

#include "nsutil/cgroup/resources.h"

namespace {
// A fake cgroup dir with the given (empty) knob files; returns an O_PATH fd.
struct FakeCgroup {
  TempDir t;
  UniqueFd fd;
  explicit FakeCgroup(std::initializer_list<const char*> files) {
    for (const char* f : files) std::ofstream(t.path + "/" + f).close();
    fd = UniqueFd(::open(t.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  std::string read(const char* f) const { return readFile(t.path + "/" + f); }
};
}  // namespace

TEST_CASE("parseResources reads memory, cpu and pids and names bad fields", "[cgroup][resources]") {
  auto r = cg::parseResources(
      R"({"memory":{"limit":1048576,"swap":-1,"swappiness":0,"disableOOMKiller":true},)"
      R"("cpu":{"shares":1024,"quota":-1,"period":50000,"cpus":"0-1"},"pids":{"limit":0}})");
  CHECK(r.memory.limit == 1048576);
  CHECK(r.memory.swap == -1);
  CHECK(r.memory.swappiness == 0u);
  CHECK(r.memory.disableOOMKiller);
  CHECK(r.cpu.shares == 1024u);
  CHECK(r.cpu.quota == -1);
  CHECK(r.cpu.cpus == "0-1");
  CHECK(r.pidsLimit == 0);
  CHECK_FALSE(cg::parseResources("").memory.limit);
  CHECK_THROWS_WITH(cg::parseResources(R"({"pids":{"limit":"10"}})"),
                    Catch::Contains("linux.resources.pids.limit"));
  CHECK_THROWS_WITH(cg::parseResources(R"({"memory":{"swappiness":101}})"),
                    Catch::Contains("swappiness"));
}

TEST_CASE("memory: v1 and v2 files", "[cgroup][resources]") {
  auto r = cg::parseResources(R"({"memory":{"limit":1000,"reservation":500,"swap":3000}})");
  FakeCgroup v1({"memory.limit_in_bytes", "memory.soft_limit_in_bytes",
                 "memory.memsw.limit_in_bytes"});
  cg::applyMemory(r, v1.fd.get(), false);
  CHECK(v1.read("memory.limit_in_bytes") == "1000");
  CHECK(v1.read("memory.soft_limit_in_bytes") == "500");
  CHECK(v1.read("memory.memsw.limit_in_bytes") == "3000");
  FakeCgroup v2({"memory.max", "memory.low", "memory.swap.max"});
  cg::applyMemory(r, v2.fd.get(), true);
  CHECK(v2.read("memory.max") == "1000");
  CHECK(v2.read("memory.swap.max") == "2000");  // v2 counts swap alone
  FakeCgroup missing({"memory.limit_in_bytes"});
  CHECK_THROWS_WITH(cg::applyMemory(r, missing.fd.get(), false),
                    Catch::Contains("memory.memsw.limit_in_bytes"));
}

TEST_CASE("cpu: shares, quota and period; v2 weight and cpu.max", "[cgroup][resources]") {
  auto r = cg::parseResources(R"({"cpu":{"shares":1024,"quota":25000,"period":50000}})");
  FakeCgroup v1({"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"});
  cg::applyCpu(r, v1.fd.get(), false);
  CHECK(v1.read("cpu.shares") == "1024");
  CHECK(v1.read("cpu.cfs_quota_us") == "25000");
  CHECK(v1.read("cpu.cfs_period_us") == "50000");
  FakeCgroup v2({"cpu.weight", "cpu.max"});
  cg::applyCpu(r, v2.fd.get(), true);
  CHECK(v2.read("cpu.weight") == "39");
  CHECK(v2.read("cpu.max") == "25000 50000");
  CHECK(cg::sharesToWeight(2) == 1);
  CHECK(cg::sharesToWeight(262144) == 10000);
}

TEST_CASE("pids: a limit, and <= 0 means max", "[cgroup][resources]") {
  FakeCgroup d({"pids.max"});
  cg::applyPids(cg::parseResources(R"({"pids":{"limit":42}})"), d.fd.get(), false);
  CHECK(d.read("pids.max") == "42");
  cg::applyPids(cg::parseResources(R"({"pids":{"limit":-1}})"), d.fd.get(), false);
  CHECK(d.read("pids.max") == "max");
}
