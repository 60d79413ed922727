// Cgroup path resolution, the shared-root guard and the devices rules, against fixtures and
// a fake cgroup tree in a temp dir (no privileges).
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/devices.h"
#include "nsutil/cgroup/devices_bpf.h"
#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/oom.h"
#include "nsutil/cgroup/stats.h"
#include "nsutil/plan.h"
#include "personalities/runc/events.h"
#include "test_util.h"

using namespace sv;
using sv::test::TempDir;

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

TEST_CASE("resolvePaths: absolute paths start at each root, relative ones below ours", "[cgroup]") {
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
  CHECK_THROWS_WITH(cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), ".", "x", kSelf)),
                    Catch::Contains("cgroup"));
  CHECK_NOTHROW(cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), "", "x", kSelf)));
  CHECK_NOTHROW(cg::refuseSharedRoots(cg::resolvePaths(layout(kHybrid), "/docker/x", "x", kSelf)));
}

TEST_CASE("deviceRules: spec rules, then runc's allow list", "[cgroup]") {
  auto rules = cg::deviceRules(
      R"({"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":8,"access":"r"}]})");
  REQUIRE(rules.size() == 2 + 11);
  CHECK(cg::v1RuleText(rules[0]) == "a");
  CHECK_FALSE(rules[0].allow);
  CHECK(cg::v1RuleText(rules[1]) == "b 8:* r");
  CHECK(cg::v1RuleText(rules[2]) == "c *:* m");
  CHECK(cg::v1RuleText(rules[4]) == "c 1:3 rwm");
  CHECK(cg::v1RuleText(rules.back()) == "c 5:2 rwm");
  CHECK_THROWS_AS(cg::deviceRules(R"({"devices":[{"type":"x"}]})"), UserError);
  CHECK_THROWS_AS(cg::deviceRules(R"({"devices":[{"access":"rwx"}]})"), UserError);
  CHECK(cg::deviceRules("").size() == 11);
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
  CHECK_NOTHROW(cg::destroy({a}));                               // already gone is fine
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
  std::map<std::string, UniqueFd> logs;
  explicit FakeCgroup(std::initializer_list<const char*> files) {
    for (const char* f : files) std::ofstream(t.path + "/" + f).close();
    fd = UniqueFd(::open(t.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  std::string read(const char* f) const { return readFile(t.path + "/" + f); }
  void set(const std::string& f, const std::string& text) const {
    std::ofstream(t.path + "/" + f) << text;
  }
  // A knob that keeps every write, not only the last: a FIFO whose read end we hold, so the
  // writer's open does not block and each write lands in the pipe.
  void log(const std::string& f) {
    std::string path = t.path + "/" + f;
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    logs[f] = UniqueFd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  }
  // Every write to a logged knob since the last call, concatenated in order (knob writes carry
  // no separator).
  std::string writes(const std::string& f) {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(logs.at(f).get(), buf, sizeof buf)) > 0;) out.append(buf, n);
    return out;
  }
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
  FakeCgroup v1(
      {"memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes"});
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

// ---- linux.resources: the rest of runtime-spec 1.2 -------------------------------------------

TEST_CASE("parseResources: every controller's fields, 0 as unset where runc reads it so",
          "[cgroup][resources]") {
  auto r = cg::parseResources(R"({
    "memory": {"limit": 0, "reservation": 1024, "swap": 0, "kernel": 1, "kernelTCP": 2,
               "checkBeforeUpdate": true},
    "cpu": {"shares": 0, "quota": 0, "period": 0, "burst": 0, "realtimeRuntime": 950,
            "realtimePeriod": 1000, "idle": 1, "mems": "0"},
    "blockIO": {"weight": 500, "leafWeight": 0,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300, "leafWeight": 20}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 2}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}, {"pageSize": "1GB", "limit": 0}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaObjects": 7}},
    "unified": {"memory.high": "64M", "cgroup.max.descendants": "5"}
  })");
  CHECK_FALSE(r.memory.limit);
  CHECK_FALSE(r.memory.swap);
  CHECK(r.memory.reservation == 1024);
  CHECK(r.memory.checkBeforeUpdate);
  CHECK(r.memory.kernelTcp == 2);
  REQUIRE(r.warnings.size() == 1);  // kernel memory: ignored, never an error
  CHECK_THAT(r.warnings[0], Catch::Contains("memory.kernel"));
  CHECK_FALSE(r.cpu.shares);
  CHECK_FALSE(r.cpu.quota);
  CHECK(r.cpu.burst == 0u);  // 0 is a burst, not "unset"
  CHECK(r.cpu.realtimeRuntime == 950);
  CHECK(r.cpu.realtimePeriod == 1000u);
  CHECK(r.cpu.idle == 1);
  CHECK(r.cpu.mems == "0");
  CHECK(r.blockIO.weight == 500);
  CHECK_FALSE(r.blockIO.leafWeight);
  REQUIRE(r.blockIO.weightDevices.size() == 1);
  CHECK(r.blockIO.weightDevices[0].leafWeight == 20);
  REQUIRE(r.blockIO.writeBps.size() == 1);
  CHECK(r.blockIO.writeBps[0].minor == 16);
  CHECK(r.blockIO.writeIops[0].rate == 4u);
  REQUIRE(r.hugepageLimits.size() == 2);
  CHECK(r.hugepageLimits[1].pageSize == "1GB");
  CHECK(r.network.classId == 1048577u);
  CHECK(r.network.priorities[0].name == "eth0");
  REQUIRE(r.rdma.size() == 2);
  CHECK(r.rdma[0].device == "mlx4_0");  // sorted: the JSON object's order is not kept
  CHECK_FALSE(r.rdma[0].hcaHandles);
  CHECK(r.unified.at("memory.high") == "64M");
  CHECK(cg::parseResources(R"({"memory":{"limit":1}})").warnings.empty());
}

TEST_CASE("parseResources: errors name the field", "[cgroup][resources]") {
  auto fails = [](const char* json, const char* field) {
    INFO(json);
    CHECK_THROWS_WITH(cg::parseResources(json), Catch::Contains(field));
    CHECK_THROWS_AS(cg::parseResources(json), UserError);
  };
  fails(R"({"memory":{"limit":"64m"}})", "linux.resources.memory.limit");
  fails(R"({"memory":"64m"})", "linux.resources.memory\" must be an object");
  fails(R"({"memory":{"disableOOMKiller":1}})", "memory.disableOOMKiller");
  fails(R"({"cpu":{"shares":-2}})", "cpu.shares\" must be a non-negative integer");
  fails(R"({"cpu":{"cpus":0}})", "cpu.cpus\" must be a string");
  fails(R"({"cpu":{"burst":1.5}})", "cpu.burst");
  fails(R"({"blockIO":{"weight":5}})", "blockIO.weight\" must be 10..1000");
  fails(R"({"blockIO":{"weight":70000}})", "blockIO.weight\" must be an integer from 0 to 65535");
  fails(R"({"blockIO":{"weightDevice":[{"minor":0,"weight":10}]}})",
        "blockIO.weightDevice[0].major\" is required");
  fails(R"({"blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0}]}})",
        "blockIO.throttleReadBpsDevice[0].rate");
  fails(R"({"blockIO":{"throttleWriteIOPSDevice":{}}})",
        "throttleWriteIOPSDevice\" must be an array");
  fails(R"({"hugepageLimits":[{"pageSize":"2M","limit":1}]})", "hugepageLimits[0].pageSize");
  fails(R"({"hugepageLimits":[{"pageSize":"../2MB","limit":1}]})", "hugepageLimits[0].pageSize");
  fails(R"({"hugepageLimits":[{"pageSize":"2MB"}]})", "hugepageLimits[0].limit\" is required");
  fails(R"({"network":{"classID":-1}})", "network.classID");
  fails(R"({"network":{"priorities":[{"name":"eth 0","priority":1}]}})",
        "network.priorities[0].name");
  fails(R"({"rdma":{"mlx5_1":3}})", "rdma.mlx5_1\" must be an object");
  fails(R"({"rdma":{"mlx5_1":{"hcaHandles":4294967296}}})", "rdma.mlx5_1.hcaHandles");
  fails(R"({"unified":{"../memory.max":"1"}})", "key \"../memory.max\"");
  fails(R"({"unified":{"a/b":"1"}})", "key \"a/b\"");
  fails(R"({"unified":{"..":"1"}})", "key \"..\"");
  fails(R"({"unified":{"memory.max":1}})", "unified.memory.max\" must be a string");
}

TEST_CASE("memory: v1 swap with an unlimited limit, soft limit, OOM killer, swappiness",
          "[cgroup][resources]") {
  FakeCgroup v1({"memory.limit_in_bytes", "memory.memsw.limit_in_bytes",
                 "memory.soft_limit_in_bytes", "memory.oom_control", "memory.swappiness",
                 "memory.kmem.tcp.limit_in_bytes"});
  cg::applyMemory(cg::parseResources(R"({"memory":{"limit":-1,"reservation":100,
      "disableOOMKiller":true,"swappiness":0,"kernelTCP":65536}})"),
                  v1.fd.get(), false);
  CHECK(v1.read("memory.limit_in_bytes") == "-1");
  CHECK(v1.read("memory.memsw.limit_in_bytes") == "-1");  // unlimited memory: and swap
  CHECK(v1.read("memory.soft_limit_in_bytes") == "100");
  CHECK(v1.read("memory.oom_control") == "1");
  CHECK(v1.read("memory.swappiness") == "0");
  CHECK(v1.read("memory.kmem.tcp.limit_in_bytes") == "65536");
}

TEST_CASE("memory: v1 limit and memsw together, raising and lowering", "[cgroup][resources]") {
  // The write order (memsw first when it grows past the current limit) needs the kernel to
  // show; a fake tree shows both branches end with both values in place.
  auto r = cg::parseResources(R"({"memory":{"limit":2000,"swap":3000}})");
  for (const char* current : {"1000\n", "8000\n"}) {
    FakeCgroup d({"memory.memsw.limit_in_bytes"});
    d.set("memory.limit_in_bytes", current);
    cg::applyMemory(r, d.fd.get(), false);
    CHECK(d.read("memory.limit_in_bytes") == "2000");
    CHECK(d.read("memory.memsw.limit_in_bytes") == "3000");
  }
}

TEST_CASE("memory: v2 swap is memory.swap.max without the memory, and checkBeforeUpdate",
          "[cgroup][resources]") {
  FakeCgroup v2({"memory.max", "memory.low", "memory.swap.max", "memory.current"});
  cg::applyMemory(cg::parseResources(R"({"memory":{"limit":-1}})"), v2.fd.get(), true);
  CHECK(v2.read("memory.max") == "max");
  CHECK(v2.read("memory.swap.max") == "max");
  cg::applyMemory(cg::parseResources(R"({"memory":{"limit":1000,"swap":1000}})"), v2.fd.get(),
                  true);
  CHECK(v2.read("memory.swap.max") == "0");  // memory == memory+swap: no swap at all
  // An update of swap alone counts against the limit in place.
  v2.set("memory.max", "4096\n");
  cg::applyMemory(cg::parseResources(R"({"memory":{"swap":5000}})"), v2.fd.get(), true);
  CHECK(v2.read("memory.swap.max") == "904");
  v2.set("memory.max", "max\n");
  CHECK_THROWS_WITH(
      cg::applyMemory(cg::parseResources(R"({"memory":{"swap":5000}})"), v2.fd.get(), true),
      Catch::Contains("needs a memory limit"));
  CHECK_THROWS_WITH(cg::applyMemory(cg::parseResources(R"({"memory":{"limit":5000,"swap":10}})"),
                                    v2.fd.get(), true),
                    Catch::Contains("must be >= memory.limit"));
  v2.set("memory.current", "8192\n");
  auto check = cg::parseResources(R"({"memory":{"limit":4096,"checkBeforeUpdate":true}})");
  CHECK_THROWS_WITH(cg::applyMemory(check, v2.fd.get(), true),
                    Catch::Contains("below the current usage 8192"));
  v2.set("memory.current", "100\n");
  cg::applyMemory(check, v2.fd.get(), true);
  CHECK(v2.read("memory.max") == "4096");
  // No swap accounting: lifting or disabling swap is then nothing to do.
  FakeCgroup noSwap({"memory.max"});
  CHECK_NOTHROW(
      cg::applyMemory(cg::parseResources(R"({"memory":{"limit":-1}})"), noSwap.fd.get(), true));
}

TEST_CASE("cpu: v1 burst, idle, realtime; a period EINVAL is not retried without a quota",
          "[cgroup][resources]") {
  FakeCgroup v1({"cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us", "cpu.idle",
                 "cpu.rt_period_us", "cpu.rt_runtime_us"});
  cg::applyCpu(cg::parseResources(R"({"cpu":{"quota":-1,"burst":1000,"idle":1,
      "realtimePeriod":1000000,"realtimeRuntime":950000}})"),
               v1.fd.get(), false);
  CHECK(v1.read("cpu.cfs_quota_us") == "-1");
  CHECK(v1.read("cpu.cfs_burst_us") == "1000");
  CHECK(v1.read("cpu.idle") == "1");
  CHECK(v1.read("cpu.rt_period_us") == "1000000");
  CHECK(v1.read("cpu.rt_runtime_us") == "950000");
  FakeCgroup noRt({"cpu.shares"});
  CHECK_THROWS_WITH(
      cg::applyCpu(cg::parseResources(R"({"cpu":{"realtimeRuntime":5}})"), noRt.fd.get(), false),
      Catch::Contains("cpu.rt_runtime_us"));
  CHECK_THROWS_WITH(
      cg::applyCpu(cg::parseResources(R"({"cpu":{"burst":5}})"), noRt.fd.get(), false),
      Catch::Contains("cpu.cfs_burst_us"));
}

TEST_CASE("cpu: v2 weight, cpu.max keeping the half an update leaves out, burst, idle",
          "[cgroup][resources]") {
  FakeCgroup v2({"cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle"});
  v2.set("cpu.max", "max 50000\n");
  cg::applyCpu(cg::parseResources(R"({"cpu":{"quota":20000,"burst":500,"idle":0}})"), v2.fd.get(),
               true);
  CHECK(v2.read("cpu.max") == "20000 50000");
  CHECK(v2.read("cpu.max.burst") == "500");
  CHECK(v2.read("cpu.idle") == "0");
  v2.set("cpu.max", "20000 50000\n");
  cg::applyCpu(cg::parseResources(R"({"cpu":{"period":10000}})"), v2.fd.get(), true);
  CHECK(v2.read("cpu.max") == "20000 10000");
  cg::applyCpu(cg::parseResources(R"({"cpu":{"quota":-1,"period":100000,"shares":2}})"),
               v2.fd.get(), true);
  CHECK(v2.read("cpu.max") == "max 100000");
  CHECK(v2.read("cpu.weight") == "1");
  CHECK_THROWS_WITH(
      cg::applyCpu(cg::parseResources(R"({"cpu":{"realtimePeriod":5}})"), v2.fd.get(), true),
      Catch::Contains("cgroup v2 has no realtime"));
}

TEST_CASE("cpuset: cpus and mems, same names in v1 and v2", "[cgroup][resources]") {
  FakeCgroup d({"cpuset.cpus", "cpuset.mems"});
  cg::applyCpuset(cg::parseResources(R"({"cpu":{"cpus":"0-1","mems":"0"}})"), d.fd.get(), true);
  CHECK(d.read("cpuset.cpus") == "0-1");
  CHECK(d.read("cpuset.mems") == "0");
}

namespace {
constexpr const char* kBlockIo = R"({"blockIO":{"weight":500,"leafWeight":200,
    "weightDevice":[{"major":8,"minor":0,"weight":300,"leafWeight":20}],
    "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
    "throttleWriteBpsDevice":[{"major":8,"minor":16,"rate":2}],
    "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":3}],
    "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":4}]}})";
}  // namespace

TEST_CASE("blkio: v1 CFQ names, BFQ names where CFQ's are missing, throttles",
          "[cgroup][resources]") {
  auto r = cg::parseResources(kBlockIo);
  FakeCgroup cfq({"blkio.weight", "blkio.weight_device", "blkio.leaf_weight",
                  "blkio.leaf_weight_device", "blkio.throttle.read_bps_device",
                  "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
                  "blkio.throttle.write_iops_device"});
  cg::applyBlkio(r, cfq.fd.get(), false);
  CHECK(cfq.read("blkio.weight") == "500");
  CHECK(cfq.read("blkio.leaf_weight") == "200");
  CHECK(cfq.read("blkio.weight_device") == "8:0 300");
  CHECK(cfq.read("blkio.leaf_weight_device") == "8:0 20");
  CHECK(cfq.read("blkio.throttle.read_bps_device") == "8:0 1048576");
  CHECK(cfq.read("blkio.throttle.write_bps_device") == "8:16 2");
  CHECK(cfq.read("blkio.throttle.read_iops_device") == "8:0 3");
  CHECK(cfq.read("blkio.throttle.write_iops_device") == "8:0 4");
  FakeCgroup bfq({"blkio.bfq.weight", "blkio.bfq.weight_device"});
  cg::applyBlkio(cg::parseResources(R"({"blockIO":{"weight":700,
      "weightDevice":[{"major":8,"minor":0,"weight":300}]}})"),
                 bfq.fd.get(), false);
  CHECK(bfq.read("blkio.bfq.weight") == "700");
  CHECK(bfq.read("blkio.bfq.weight_device") == "8:0 300");
  FakeCgroup none({"blkio.throttle.read_bps_device"});
  CHECK_THROWS_WITH(cg::applyBlkio(r, none.fd.get(), false),
                    Catch::Contains("blkio.weight or blkio.bfq.weight"));
}

TEST_CASE("blkio: v2 io.weight (converted) or io.bfq.weight, io.max per throttle",
          "[cgroup][resources]") {
  auto r = cg::parseResources(kBlockIo);
  FakeCgroup v2({"io.weight"});
  v2.log("io.max");
  cg::applyBlkio(r, v2.fd.get(), true);
  CHECK(v2.read("io.weight") == std::to_string(cg::blkioToIoWeight(500)));
  CHECK(cg::blkioToIoWeight(10) == 1);
  CHECK(cg::blkioToIoWeight(1000) == 10000);
  CHECK(v2.writes("io.max") ==
        "8:0 rbps=1048576"
        "8:16 wbps=2"
        "8:0 riops=3"
        "8:0 wiops=4");
  FakeCgroup bfq({});
  bfq.set("io.bfq.weight", "default 100\n");  // a kernel with per-device BFQ weights
  cg::applyBlkio(cg::parseResources(R"({"blockIO":{"weight":700,
      "weightDevice":[{"major":8,"minor":0,"weight":300}]}})"),
                 bfq.fd.get(), true);
  CHECK(bfq.read("io.bfq.weight") == "8:0 300");  // the last of "700", "8:0 300"
  FakeCgroup none({"io.max"});
  CHECK_THROWS_WITH(
      cg::applyBlkio(cg::parseResources(R"({"blockIO":{"weight":700}})"), none.fd.get(), true),
      Catch::Contains("io.weight"));
}

TEST_CASE("hugetlb: v1 limit_in_bytes, v2 max, the rsvd counters where present",
          "[cgroup][resources]") {
  auto r = cg::parseResources(
      R"({"hugepageLimits":[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":0}]})");
  FakeCgroup v1({"hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes",
                 "hugetlb.1GB.limit_in_bytes", "hugetlb.1GB.rsvd.limit_in_bytes"});
  cg::applyHugetlb(r, v1.fd.get(), false);
  CHECK(v1.read("hugetlb.2MB.limit_in_bytes") == "4194304");
  CHECK(v1.read("hugetlb.2MB.rsvd.limit_in_bytes") == "4194304");
  CHECK(v1.read("hugetlb.1GB.limit_in_bytes") == "0");
  FakeCgroup v2({"hugetlb.2MB.max", "hugetlb.1GB.max"});  // a kernel before 5.7
  cg::applyHugetlb(r, v2.fd.get(), true);
  CHECK(v2.read("hugetlb.2MB.max") == "4194304");
  auto odd = cg::parseResources(R"({"hugepageLimits":[{"pageSize":"64KB","limit":1}]})");
  CHECK_THROWS_WITH(cg::applyHugetlb(odd, v2.fd.get(), true),
                    Catch::Contains("hugetlb.64KB.max") && Catch::Contains("pageSize 64KB"));
  CHECK(cg::hugePageSizeName(2 << 20) == "2MB");
  CHECK(cg::hugePageSizeName(1ull << 30) == "1GB");
  CHECK(cg::hugePageSizeName(16ull << 30) == "16GB");
  CHECK(cg::hugePageSizeName(64 << 10) == "64KB");
}

TEST_CASE("net_cls and net_prio: classid, one ifpriomap write per interface",
          "[cgroup][resources]") {
  auto r = cg::parseResources(R"({"network":{"classID":1048577,
      "priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":1}]}})");
  FakeCgroup cls({"net_cls.classid"});
  cg::applyNetCls(r, cls.fd.get(), false);
  CHECK(cls.read("net_cls.classid") == "1048577");
  FakeCgroup prio({});
  prio.log("net_prio.ifpriomap");
  cg::applyNetPrio(r, prio.fd.get(), false);
  CHECK(prio.writes("net_prio.ifpriomap") ==
        "eth0 5"
        "lo 1");
}

TEST_CASE("rdma: one rdma.max line per device", "[cgroup][resources]") {
  FakeCgroup d({});
  d.log("rdma.max");
  cg::applyRdma(cg::parseResources(R"({"rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000},
      "mlx4_0":{"hcaObjects":7}}})"),
                d.fd.get(), true);
  CHECK(d.writes("rdma.max") ==
        "mlx4_0 hca_object=7"
        "mlx5_1 hca_handle=3 hca_object=10000");
  FakeCgroup none({});
  CHECK_THROWS_WITH(cg::applyRdma(cg::parseResources(R"({"rdma":{"mlx4_0":{"hcaObjects":7}}})"),
                                  none.fd.get(), true),
                    Catch::Contains("rdma.max"));
}

TEST_CASE("unified: key files written as given; a missing one names the key and controller",
          "[cgroup][resources]") {
  FakeCgroup d({"memory.high", "cgroup.max.descendants"});
  cg::applyUnified(
      cg::parseResources(R"({"unified":{"memory.high":"64M","cgroup.max.descendants":"5"}})"),
      d.fd.get(), true);
  CHECK(d.read("memory.high") == "64M");
  CHECK(d.read("cgroup.max.descendants") == "5");
  CHECK_THROWS_WITH(
      cg::applyUnified(cg::parseResources(R"({"unified":{"io.latency":"x"}})"), d.fd.get(), true),
      Catch::Contains("\"io.latency\" does not exist") && Catch::Contains("io controller"));
}

namespace {
void mkdirs(const std::string& path) {
  std::filesystem::create_directories(path);
}
cg::CgroupDir fakeDir(const std::string& root, const char* hierarchy, const char* controllers,
                      bool v2, const std::string& inner = "/c1") {
  std::string mount = root + "/" + hierarchy;
  mkdirs(mount + inner);
  return {mount + inner, mount, mount, controllers, v2};
}
}  // namespace

TEST_CASE("enableControllers: every ancestor's subtree_control, only when the leaf lacks one",
          "[cgroup][resources]") {
  TempDir t;
  auto dir = fakeDir(t.path, "unified", "", true, "/a/b/c1");
  std::ofstream(dir.mountpoint + "/cgroup.controllers") << "cpu io memory pids\n";
  for (const char* d : {"", "/a", "/a/b"})
    std::ofstream(dir.mountpoint + d + "/cgroup.subtree_control").close();
  std::ofstream(dir.path + "/cgroup.controllers") << "cpu\n";
  cg::enableControllers(dir, {"cpu"});
  CHECK(readFile(dir.mountpoint + "/cgroup.subtree_control").empty());  // nothing missing
  cg::enableControllers(dir, {"cpu", "memory"});
  for (const char* d : {"", "/a", "/a/b"})
    CHECK(readFile(dir.mountpoint + d + "/cgroup.subtree_control") == "+cpu +io +memory +pids");
  CHECK(::access((dir.path + "/cgroup.subtree_control").c_str(), F_OK) != 0);  // not the leaf
}

TEST_CASE("applyResources: v1 hierarchies, the cgroup2 dir for the rest, clear absences",
          "[cgroup][resources]") {
  TempDir t;
  // A hybrid host: memory and pids in v1, hugetlb only in cgroup2, no rdma or net_cls at all.
  std::vector<cg::CgroupDir> dirs = {
      fakeDir(t.path, "memory", "memory", false), fakeDir(t.path, "pids", "pids", false),
      fakeDir(t.path, "systemd", "name=systemd", false), fakeDir(t.path, "unified", "", true)};
  std::ofstream(t.path + "/unified/cgroup.controllers") << "hugetlb\n";
  std::ofstream(dirs[3].path + "/cgroup.controllers") << "hugetlb\n";
  for (const char* f : {"/memory/c1/memory.limit_in_bytes", "/pids/c1/pids.max",
                        "/unified/c1/hugetlb.2MB.max", "/unified/c1/cgroup.max.descendants"})
    std::ofstream(t.path + f).close();
  cg::applyResources(cg::parseResources(R"({"memory":{"limit":4096},"pids":{"limit":9},
      "hugepageLimits":[{"pageSize":"2MB","limit":2097152}],
      "unified":{"cgroup.max.descendants":"3"}})"),
                     dirs);
  CHECK(readFile(t.path + "/memory/c1/memory.limit_in_bytes") == "4096");
  CHECK(readFile(t.path + "/pids/c1/pids.max") == "9");
  CHECK(readFile(t.path + "/unified/c1/hugetlb.2MB.max") == "2097152");
  CHECK(readFile(t.path + "/unified/c1/cgroup.max.descendants") == "3");
  CHECK_THROWS_WITH(
      cg::applyResources(cg::parseResources(R"({"rdma":{"mlx4_0":{"hcaObjects":1}}})"), dirs),
      Catch::Contains("the rdma controller, which this host has not mounted"));
  // net_cls on a host with v1 hierarchies but not that one: refused, as runc does.
  CHECK_THROWS_WITH(cg::applyResources(cg::parseResources(R"({"network":{"classID":7}})"), dirs),
                    Catch::Contains("the net_cls controller, which this host has not mounted"));
  CHECK_THROWS_WITH(cg::applyResources(cg::parseResources(R"({"cpu":{"shares":100}})"), dirs),
                    Catch::Contains("the cpu controller"));
  CHECK_THROWS_WITH(cg::applyResources(cg::parseResources(R"({"unified":{"x.y":"1"}})"), {dirs[0]}),
                    Catch::Contains("needs a cgroup2 hierarchy"));
  CHECK_NOTHROW(cg::applyResources(cg::parseResources(""), {}));  // nothing asked: nothing read
}

TEST_CASE("applyResources: a pure v2 host enables the controllers, then writes v2 names",
          "[cgroup][resources]") {
  TempDir t;
  std::vector<cg::CgroupDir> dirs = {fakeDir(t.path, "v2", "", true, "/user.slice/c1")};
  const std::string root = t.path + "/v2";
  std::ofstream(root + "/cgroup.controllers") << "cpuset cpu io memory hugetlb pids rdma\n";
  std::ofstream(root + "/cgroup.subtree_control").close();
  std::ofstream(root + "/user.slice/cgroup.subtree_control").close();
  std::ofstream(dirs[0].path + "/cgroup.controllers").close();
  for (const char* f : {"memory.max", "cpu.weight", "pids.max", "io.max"})
    std::ofstream(dirs[0].path + "/" + f).close();
  cg::applyResources(cg::parseResources(R"({"memory":{"limit":4096},"cpu":{"shares":1024},
      "pids":{"limit":5},"blockIO":{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1}]},
      "network":{"classID":7}})"),
                     dirs);
  CHECK(readFile(root + "/cgroup.subtree_control") ==
        "+cpuset +cpu +io +memory +hugetlb +pids +rdma");
  CHECK(readFile(root + "/user.slice/cgroup.subtree_control") ==
        "+cpuset +cpu +io +memory +hugetlb +pids +rdma");
  CHECK(readFile(dirs[0].path + "/memory.max") == "4096");
  CHECK(readFile(dirs[0].path + "/cpu.weight") == "39");
  CHECK(readFile(dirs[0].path + "/pids.max") == "5");
  CHECK(readFile(dirs[0].path + "/io.max") == "8:0 rbps=1");
  // A controller the parents could not pass down: the error says so rather than "no file".
  std::filesystem::remove(dirs[0].path + "/pids.max");
  CHECK_THROWS_WITH(cg::applyResources(cg::parseResources(R"({"pids":{"limit":5}})"), dirs),
                    Catch::Contains("the pids controller, which is not enabled for cgroup"));
}

// ---- cgroup v2 device rules: the eBPF program ------------------------------------------------

namespace {
// Runs a device program as the kernel would for one request (the instructions deviceProgram
// emits, with the verifier's basic rules: forward jumps within the program, loads only from
// the context); returns R0.
uint64_t runDeviceProgram(const std::vector<bpf_insn>& prog, char type, uint32_t major,
                          uint32_t minor, const char* access) {
  uint32_t acc = 0;
  for (const char* a = access; *a; ++a)
    acc |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : BPF_DEVCG_ACC_MKNOD;
  uint32_t ctx[3] = {(acc << 16) | (type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR), major,
                     minor};
  uint64_t reg[11] = {};
  bool r1IsCtx = true;
  for (size_t pc = 0; pc < prog.size(); ++pc) {
    const bpf_insn& i = prog[pc];
    uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W:
        REQUIRE((i.src_reg == 1 && r1IsCtx && i.off >= 0 && i.off <= 8 && i.off % 4 == 0));
        reg[i.dst_reg] = ctx[i.off / 4];
        if (i.dst_reg == 1) r1IsCtx = false;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        reg[i.dst_reg] = static_cast<uint32_t>(reg[i.dst_reg] & imm);
        break;
      case BPF_ALU | BPF_RSH | BPF_K:
        reg[i.dst_reg] = static_cast<uint32_t>(reg[i.dst_reg]) >> i.imm;
        break;
      case BPF_ALU | BPF_MOV | BPF_K:
        reg[i.dst_reg] = static_cast<uint32_t>(i.imm);
        break;
      case BPF_ALU | BPF_MOV | BPF_X:
        reg[i.dst_reg] = static_cast<uint32_t>(reg[i.src_reg]);
        if (i.dst_reg == 1) r1IsCtx = false;
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
      case BPF_JMP | BPF_JEQ | BPF_K: {
        REQUIRE(i.off >= 0);
        REQUIRE(pc + 1 + i.off < prog.size());
        bool eq = reg[i.dst_reg] == imm;
        if (eq == (BPF_OP(i.code) == BPF_JEQ)) pc += i.off;
        break;
      }
      case BPF_JMP | BPF_EXIT:
        return reg[0];
      default:
        FAIL("unexpected instruction " << int(i.code));
    }
  }
  FAIL("the program runs off its end");
  return 0;
}

bool allows(const std::vector<cg::DeviceRule>& rules, char type, uint32_t major, uint32_t minor,
            const char* access) {
  return runDeviceProgram(cg::deviceProgram(cg::devicePolicy(rules)), type, major, minor, access) ==
         1;
}
}  // namespace

TEST_CASE("device program: runc's default list after a deny-all", "[cgroup][bpf]") {
  // Docker's `--device /dev/fuse:/dev/fuse:r`: the node is in linux.devices, the "r" rule in
  // linux.resources.devices; the node's presence grants nothing more.
  auto rules = cg::deviceRules(
      R"({"devices":[{"allow":false,"access":"rwm"},)"
      R"({"allow":true,"type":"c","major":10,"minor":229,"access":"r"}]})");
  auto policy = cg::devicePolicy(rules);
  CHECK_FALSE(policy.defaultAllow);
  CHECK(allows(rules, 'c', 1, 3, "rw"));  // /dev/null
  CHECK(allows(rules, 'c', 1, 3, "rwm"));
  CHECK(allows(rules, 'c', 5, 1, "r"));         // /dev/console
  CHECK(allows(rules, 'c', 136, 4, "rw"));      // a pty
  CHECK(allows(rules, 'c', 10, 229, "r"));      // the spec's read-only rule
  CHECK_FALSE(allows(rules, 'c', 10, 229, "w"));
  CHECK_FALSE(allows(rules, 'c', 1, 11, "r"));  // /dev/kmsg
  CHECK(allows(rules, 'c', 99, 1, "m"));        // "c *:* m"
  CHECK_FALSE(allows(rules, 'c', 99, 1, "rm"));
  CHECK(allows(rules, 'b', 8, 0, "m"));
  CHECK_FALSE(allows(rules, 'b', 8, 0, "r"));
  CHECK_FALSE(allows(rules, 'b', 1, 3, "r"));  // the type counts
}

TEST_CASE("device program: v1's rules for allow-by-default lists and holes", "[cgroup][bpf]") {
  using R = cg::DeviceRule;
  // Default allow with one denied access.
  std::vector<R> deny = {{true, 'a', -1, -1, "rwm"}, {false, 'c', 1, 3, "w"}};
  CHECK(allows(deny, 'c', 1, 3, "r"));
  CHECK_FALSE(allows(deny, 'c', 1, 3, "w"));
  CHECK_FALSE(allows(deny, 'c', 1, 3, "rw"));  // any overlap denies
  CHECK(allows(deny, 'c', 1, 5, "w"));
  CHECK(allows(deny, 'b', 1, 3, "w"));
  // An allow inside a wider deny punches no hole (v1 removes only an exact exception).
  std::vector<R> wide = {
      {true, 'a', -1, -1, "rwm"}, {false, 'c', 1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}};
  CHECK_FALSE(allows(wide, 'c', 1, 3, "r"));
  CHECK(allows(wide, 'c', 2, 3, "r"));
  // ... but it does take access away from an exact one.
  std::vector<R> exact = {
      {true, 'a', -1, -1, "rwm"}, {false, 'c', 1, 3, "rwm"}, {true, 'c', 1, 3, "r"}};
  CHECK(allows(exact, 'c', 1, 3, "r"));
  CHECK_FALSE(allows(exact, 'c', 1, 3, "w"));
  // Allows of one device merge; a later "a" starts over.
  std::vector<R> merged = {
      {false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rw"}, {true, 'c', 1, 3, "m"}};
  REQUIRE(cg::devicePolicy(merged).exceptions.size() == 1);
  CHECK(cg::devicePolicy(merged).exceptions[0].access == 7u);
  merged.push_back({true, 'a', -1, -1, "rwm"});
  CHECK(cg::devicePolicy(merged).exceptions.empty());
  CHECK(cg::deviceProgram(cg::devicePolicy(merged)).size() == 2);  // return 1
  CHECK(allows(merged, 'b', 7, 7, "rwm"));
  // Without an "a" rule the list is an allow list (runc's start: deny all).
  std::vector<R> only = {{true, 'c', 1, 3, "rwm"}};
  CHECK(allows(only, 'c', 1, 3, "r"));
  CHECK_FALSE(allows(only, 'c', 1, 5, "r"));
  CHECK_FALSE(allows({{false, 'a', -1, -1, "rwm"}}, 'c', 1, 3, "r"));
  CHECK_THROWS_AS(cg::deviceProgram(cg::devicePolicy({{true, 'c', 1LL << 33, 0, "r"}})), UserError);
}

namespace {
std::string cgroup2Mount() {
  for (const auto& h : layout(readFile("/proc/self/mountinfo").c_str()))
    if (h.v2) return h.mountpoint;
  return "";
}

// errno of open(path) by a child placed in the cgroup dir (0 when it opened).
int openInCgroup(const std::string& dir, const char* path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int procs = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (procs < 0 || ::write(procs, "0", 1) != 1) ::_exit(200);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    ::_exit(fd < 0 ? errno : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("device program: the kernel loads it, enforces it, and an update replaces it",
          "[cgroup][bpf][root]") {
  std::string mount = cgroup2Mount();
  if (::geteuid() != 0 || mount.empty()) {
    WARN("skipped: needs root and a cgroup2 mount");
    return;
  }
  std::string dir = fmt::format("{}/sv-unit-bpf-{}", mount, ::getpid());
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  cg::applyDevicesBpf({{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}}, dir);
  CHECK(openInCgroup(dir, "/dev/null") == 0);
  CHECK(openInCgroup(dir, "/dev/zero") == EPERM);
  cg::applyDevicesBpf(
      {{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}, {true, 'c', 1, 5, "r"}}, dir);
  CHECK(cg::attachedDevicePrograms(dir).size() == 1);  // the first one is gone
  CHECK(openInCgroup(dir, "/dev/zero") == 0);
  CHECK(openInCgroup(dir, "/dev/full") == EPERM);
  CHECK(::rmdir(dir.c_str()) == 0);
}

// ---- stats ------------------------------------------------------------------------------------

TEST_CASE("stats: v1 cpuacct, cpu throttling, cpuset, memory, pids, blkio, hugetlb",
          "[cgroup][stats]") {
  FakeCgroup d({});
  d.set("cpuacct.stat", "user 33\nsystem 2\n");
  d.set("cpuacct.usage", "338314622\n");
  d.set("cpuacct.usage_percpu", "332709993 5604629 \n");
  d.set("cpuacct.usage_all", "cpu user system\n0 324000000 4000000\n1 5 6\n");
  d.set("cpu.stat", "nr_periods 11\nnr_throttled 2\nthrottled_time 500\nnr_bursts 0\n");
  d.set("cpuset.cpus", "0-2,5\n");
  d.set("cpuset.mems", "0\n");
  d.set("cpuset.sched_load_balance", "1\n");
  d.set("cpuset.sched_relax_domain_level", "-1\n");
  d.set("memory.stat", "cache 4096\nrss 8192\ntotal_rss 8192\n");
  d.set("memory.usage_in_bytes", "380928\n");
  d.set("memory.max_usage_in_bytes", "2519040\n");
  d.set("memory.failcnt", "3\n");
  d.set("memory.limit_in_bytes", "67108864\n");
  d.set("memory.memsw.usage_in_bytes", "380928\n");
  d.set("memory.memsw.max_usage_in_bytes", "2519040\n");
  d.set("memory.memsw.failcnt", "0\n");
  d.set("memory.memsw.limit_in_bytes", "9223372036854771712\n");
  d.set("memory.kmem.usage_in_bytes", "245760\n");
  d.set("memory.kmem.max_usage_in_bytes", "540672\n");
  d.set("memory.kmem.failcnt", "0\n");  // no kmem.limit_in_bytes on new kernels
  d.set("pids.current", "4\n");
  d.set("pids.max", "max\n");
  d.set("blkio.bfq.io_serviced_recursive", "");  // empty: the next group is read
  d.set("blkio.throttle.io_serviced_recursive", "8:0 Read 12\n8:0 Write 3\nTotal 15\n");
  d.set("blkio.throttle.io_service_bytes_recursive", "8:16 Read 4096\n");
  d.set("hugetlb.2MB.usage_in_bytes", "2097152\n");
  d.set("hugetlb.2MB.max_usage_in_bytes", "4194304\n");
  d.set("hugetlb.2MB.failcnt", "1\n");
  cg::Stats s;
  cg::statCpuacct(d.fd.get(), s);
  cg::statCpu(d.fd.get(), false, s);
  cg::statCpuset(d.fd.get(), s);
  cg::statMemory(d.fd.get(), false, s);
  cg::statPids(d.fd.get(), false, s);
  cg::statBlkio(d.fd.get(), false, s);
  cg::statHugetlb(d.fd.get(), false, {"1GB", "2MB"}, s);
  CHECK(s.cpu.total == 338314622u);
  CHECK(s.cpu.percpu == std::vector<uint64_t>{332709993, 5604629});
  CHECK(s.cpu.percpuUser == std::vector<uint64_t>{324000000, 5});
  CHECK(s.cpu.percpuKernel == std::vector<uint64_t>{4000000, 6});
  CHECK(s.cpu.user == 330000000u);  // ticks of 10 ms
  CHECK(s.cpu.kernel == 20000000u);
  CHECK(s.cpu.periods == 11u);
  CHECK(s.cpu.throttledPeriods == 2u);
  CHECK(s.cpu.throttledTime == 500u);
  CHECK(s.cpuset.cpus == std::vector<uint16_t>{0, 1, 2, 5});
  CHECK(s.cpuset.schedRelaxDomainLevel == -1);
  CHECK(s.memory.cache == 4096u);
  CHECK(s.memory.raw.at("total_rss") == 8192u);
  CHECK(s.memory.usage.limit == 67108864u);
  CHECK(s.memory.usage.failcnt == 3u);
  CHECK(s.memory.swap.limit == 9223372036854771712u);
  CHECK(s.memory.kernel.usage == 245760u);
  CHECK(s.memory.kernel.limit == 0u);
  CHECK(s.memory.kernelTCP.usage == 0u);
  CHECK(s.pids.current == 4u);
  CHECK(s.pids.limit == 0u);  // "max": none
  REQUIRE(s.blkio.serviced.size() == 2);
  CHECK(s.blkio.serviced[1].op == "Write");
  CHECK(s.blkio.serviced[1].value == 3u);
  REQUIRE(s.blkio.serviceBytes.size() == 1);
  CHECK(s.blkio.serviceBytes[0].minor == 16u);
  REQUIRE(s.hugetlb.size() == 1);
  CHECK(s.hugetlb.at("2MB").max == 4194304u);
  CHECK(s.hugetlb.at("2MB").failcnt == 1u);
  std::string json = cg::statsEventJson("c1", s);
  CHECK_THAT(json, Catch::StartsWith(R"({"type":"stats","id":"c1","data":{"cpu":{"usage":{)"
                                     R"("total":338314622,"percpu":[332709993,5604629],)"));
  CHECK_THAT(json, Catch::Contains(R"("throttling":{"periods":11,"throttledPeriods":2,)"
                                   R"("throttledTime":500}})"));
  CHECK_THAT(json, Catch::Contains(R"("kernel":{"limit":0,"usage":245760,"max":540672,)"
                                   R"("failcnt":0},"kernelTCP":{"limit":0,"failcnt":0},)"));
  CHECK_THAT(json, Catch::Contains(R"("pids":{"current":4},"blkio":{"ioServiceBytesRecursive":)"
                                   R"([{"major":8,"minor":16,"op":"Read","value":4096}],)"));
  CHECK_THAT(json, Catch::Contains(R"("hugetlb":{"2MB":{"usage":2097152,"max":4194304,)"
                                   R"("failcnt":1}},"intel_rdt":{},"network_interfaces":null}})"));
}

TEST_CASE("stats: v2 cpu.stat, memory.current/max/swap, io.stat, pids without its controller",
          "[cgroup][stats]") {
  FakeCgroup d({});
  d.set("cpu.stat",
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\n"
        "nr_throttled 1\nthrottled_usec 20\n");
  d.set("memory.stat", "anon 8192\nfile 4096\n");
  d.set("memory.current", "12288\n");
  d.set("memory.max", "max\n");
  d.set("memory.peak", "20000\n");
  d.set("memory.swap.current", "100\n");
  d.set("memory.swap.max", "1000\n");
  d.set("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
  d.set("cgroup.procs", "10\n11\n12\n");
  d.set("hugetlb.2MB.current", "0\n");
  d.set("hugetlb.2MB.events", "max 3\n");
  cg::Stats s;
  cg::statCpu(d.fd.get(), true, s);
  cg::statMemory(d.fd.get(), true, s);
  cg::statBlkio(d.fd.get(), true, s);
  cg::statPids(d.fd.get(), true, s);
  cg::statHugetlb(d.fd.get(), true, {"2MB"}, s);
  CHECK(s.cpu.total == 1500000u);
  CHECK(s.cpu.user == 1000000u);
  CHECK(s.cpu.kernel == 500000u);
  CHECK(s.cpu.throttledTime == 20000u);
  CHECK(s.memory.cache == 4096u);
  CHECK(s.memory.usage.usage == 12288u);
  CHECK(s.memory.usage.limit == UINT64_MAX);
  CHECK(s.memory.usage.max == 20000u);
  CHECK(s.memory.swap.usage == 12388u);      // memory + swap, as v1 reports it
  CHECK(s.memory.swap.limit == UINT64_MAX);  // unlimited memory: unlimited sum
  REQUIRE(s.blkio.serviceBytes.size() == 2);
  CHECK(s.blkio.serviceBytes[1].op == "Write");
  CHECK(s.blkio.serviceBytes[1].value == 8192u);
  CHECK(s.blkio.serviced.size() == 2);
  CHECK(s.pids.current == 3u);
  CHECK(s.hugetlb.at("2MB").failcnt == 3u);
}

TEST_CASE("stats JSON: runc's shape for a container with nothing to report", "[cgroup][stats]") {
  cg::Stats s;
  CHECK(cg::statsEventJson("c1", s) ==
        R"({"type":"stats","id":"c1","data":{"cpu":{"usage":{"kernel":0,"user":0},)"
        R"("throttling":{}},"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,)"
        R"("memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,)"
        R"("memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},)"
        R"("memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},)"
        R"("kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"pids":{},)"
        R"("blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}})");
}

TEST_CASE("stats helpers: cpu lists, knob numbers, the host's huge page sizes", "[cgroup][stats]") {
  CHECK(cg::parseCpuList("0-3,8,10-11\n") == std::vector<uint16_t>{0, 1, 2, 3, 8, 10, 11});
  CHECK(cg::parseCpuList("").empty());
  CHECK(cg::parseKnobNumber("max\n") == UINT64_MAX);
  CHECK(cg::parseKnobNumber("42\n") == 42u);
  CHECK_FALSE(cg::parseKnobNumber("-1\n"));
  TempDir t;
  for (const char* d : {"hugepages-2048kB", "hugepages-1048576kB", "other"})
    ::mkdir((t.path + "/" + d).c_str(), 0755);
  CHECK(cg::hugePageSizes(t.path) == std::vector<std::string>{"1GB", "2MB"});
  CHECK(cg::hugePageSizes(t.path + "/missing").empty());
}

TEST_CASE("readStats: each controller from its hierarchy in a fake tree", "[cgroup][stats]") {
  TempDir t;
  std::vector<cg::CgroupDir> dirs = {fakeDir(t.path, "memory", "memory", false),
                                     fakeDir(t.path, "pids", "pids", false),
                                     fakeDir(t.path, "unified", "", true)};
  std::ofstream(dirs[0].path + "/memory.usage_in_bytes") << "4096\n";
  std::ofstream(dirs[1].path + "/pids.current") << "2\n";
  std::ofstream(dirs[1].path + "/pids.max") << "10\n";
  std::ofstream(dirs[2].path + "/cpu.stat") << "usage_usec 7\n";  // no v1 cpuacct: cgroup2's
  cg::Stats s = cg::readStats(dirs);
  CHECK(s.memory.usage.usage == 4096u);
  CHECK(s.pids.limit == 10u);
  CHECK(s.cpu.total == 7000u);
  std::filesystem::remove_all(dirs[1].path);
  CHECK_THROWS_AS(cg::readStats(dirs), SysError);  // deleted meanwhile
}

TEST_CASE("OomWatch v2: readable when memory.events changes, counts only new oom_kills",
          "[cgroup][stats]") {
  TempDir t;
  std::ofstream(t.path + "/memory.events") << "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n";
  cg::OomWatch w(t.path, true);
  struct pollfd p = {w.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
  std::ofstream(t.path + "/memory.events") << "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n";
  REQUIRE(::poll(&p, 1, 1000) == 1);
  CHECK(w.takeOom());
  std::ofstream(t.path + "/memory.events") << "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n";
  REQUIRE(::poll(&p, 1, 1000) == 1);
  CHECK_FALSE(w.takeOom());  // "max" moved, no kill
  CHECK(cg::oomKillCount("oom 3\noom_kill 5\noom_group_kill 1\n") == 5u);
}

TEST_CASE("events --interval takes Go durations", "[cgroup][events]") {
  using namespace std::chrono;
  CHECK(runc::parseDuration("5s") == seconds(5));
  CHECK(runc::parseDuration("250ms") == milliseconds(250));
  CHECK(runc::parseDuration("1m30s") == seconds(90));
  CHECK(runc::parseDuration("1.5h") == minutes(90));
  CHECK(runc::parseDuration("100us") == microseconds(100));
  CHECK(runc::parseDuration("0") == nanoseconds(0));
  CHECK(runc::parseDuration("-1s") == seconds(-1));
  for (const char* bad : {"", "5", "s", "5x", "1.2.3s", "5 s"}) {
    INFO(bad);
    CHECK_FALSE(runc::parseDuration(bad));
  }
}

TEST_CASE("applyResources: kernelTCP is a warning on cgroup v2, not a memory controller request",
          "[cgroup][resources]") {
  TempDir t;
  std::vector<cg::CgroupDir> v2 = {fakeDir(t.path, "v2", "", true)};
  std::ofstream(t.path + "/v2/cgroup.controllers") << "cpu memory pids\n";
  std::ofstream(t.path + "/v2/cgroup.subtree_control").close();
  std::ofstream(v2[0].path + "/cgroup.controllers").close();
  const cg::Resources tcp = cg::parseResources(R"({"memory":{"kernelTCP":1048576}})");
  const std::vector<std::string> warnings = cg::applyResources(tcp, v2);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("kernelTCP is ignored"));
  CHECK(readFile(t.path + "/v2/cgroup.subtree_control").empty());  // memory not enabled for it
  // With a v1 memory hierarchy it is written there, without a warning.
  std::vector<cg::CgroupDir> hybrid = {fakeDir(t.path, "memory", "memory", false), v2[0]};
  std::ofstream(hybrid[0].path + "/memory.kmem.tcp.limit_in_bytes").close();
  CHECK(cg::applyResources(tcp, hybrid).empty());
  CHECK(readFile(hybrid[0].path + "/memory.kmem.tcp.limit_in_bytes") == "1048576");
}
