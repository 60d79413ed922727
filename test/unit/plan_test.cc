// The launch planner (ns::buildPlan and its helpers) and the mount option table. Pure logic:
// specs come from JSON fixtures, bundles are temporary directories; nothing here needs root.
#include <sched.h>
#include <sys/mount.h>
#include <linux/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "nsutil/mount_options.h"
#include "nsutil/plan.h"
#include "oci/spec.h"
#include "test_util.h"

using Catch::Matchers::Contains;
using nlohmann::json;
using sv::ns::buildPlan;
using sv::ns::cleanPath;
using sv::ns::FsBind;
using sv::ns::fsBindPosition;
using sv::ns::planFsBinds;
using sv::ns::LaunchPlan;
using sv::ns::MountKind;
using sv::ns::parseCgroupLayout;
using sv::ns::parseMountOptions;
using sv::ns::passwdHome;
using sv::ns::PlannedMount;
using sv::ns::PlanOptions;
using sv::oci::NsType;
using sv::oci::SpecError;
using sv::test::errorOf;
using sv::test::TempDir;
using sv::test::writeFile;

namespace fs = std::filesystem;

namespace {

// MS_*, S_IF* and CLONE_* are int constants; the plan stores unsigned types. Converting once
// here keeps Catch's comparisons free of sign-compare warnings.
constexpr unsigned long ul(unsigned long v) { return v; }
constexpr mode_t md(mode_t v) { return v; }

// ---- mountinfo fixtures

// This host's hybrid layout: v1 hierarchies under a tmpfs, cgroup2 at .../unified.
constexpr const char* kHybridMountinfo =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A pure cgroup v2 host (systemd default), with optional fields before the separator.
constexpr const char* kPureV2Mountinfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
    "25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// Co-mounted controllers and the extra super options systemd hosts carry.
constexpr const char* kCoMountedMountinfo =
    "30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup "
    "cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup "
    "cgroup rw,cpu,cpuacct,clone_children\n"
    "34 30 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup "
    "cgroup rw,cpuset,noprefix\n";

PlanOptions layoutOf(const char* mountinfo) {
  PlanOptions o;
  parseCgroupLayout(mountinfo, o);
  return o;
}

// ---- temporary bundles

// A bundle directory with an empty rootfs/ and a minimal config that buildPlan accepts.
struct Bundle {
  TempDir dir;
  json config = json::parse(R"json({
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs"},
    "process": {"args": ["sh"], "cwd": "/", "env": ["PATH=/usr/bin:/bin", "HOME=/root"]},
    "linux": {"namespaces": [{"type": "mount"}]}
  })json");

  Bundle() { fs::create_directory(rootfs()); }
  fs::path path() const { return dir.path; }
  fs::path rootfs() const { return dir.file("rootfs"); }

  PlanOptions options() const {
    PlanOptions o;
    o.bundle = path().string();
    return o;
  }
  sv::oci::Spec spec() const { return sv::oci::parseSpec(config.dump()); }
  LaunchPlan plan() const { return buildPlan(spec(), options()); }
  LaunchPlan plan(PlanOptions o) const {
    o.bundle = path().string();
    return buildPlan(spec(), o);
  }
};

std::vector<std::string> joinTypes(const LaunchPlan& p) {
  std::vector<std::string> out;
  for (const auto& j : p.joins) out.push_back(sv::oci::nsName(j.type));
  return out;
}

const PlannedMount& mountAt(const LaunchPlan& p, const std::string& destination) {
  for (const auto& m : p.mounts)
    if (m.destination == destination) return m;
  FAIL("no planned mount at " << destination);
  throw std::logic_error("unreachable");
}

std::string homeOf(const LaunchPlan& p) {
  std::string home;
  int count = 0;
  for (const auto& e : p.env)
    if (e.starts_with("HOME=")) {
      home = e.substr(5);
      ++count;
    }
  REQUIRE(count == 1);
  return home;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// cleanPath

TEST_CASE("cleanPath normalises separators and dots", "[plan][cleanPath]") {
  CHECK(cleanPath("/a//b/./c/") == "/a/b/c");
  CHECK(cleanPath("/") == "/");
  CHECK(cleanPath("///") == "/");
  CHECK(cleanPath("") == "/");
  CHECK(cleanPath(".") == "/");
  CHECK(cleanPath("a/b") == "/a/b");
  CHECK(cleanPath("/proc//kcore/") == "/proc/kcore");
  // Names that merely start with dots are ordinary names.
  CHECK(cleanPath("/.hidden/..x/...") == "/.hidden/..x/...");
}

TEST_CASE("cleanPath resolves .. lexically and never climbs above /", "[plan][cleanPath]") {
  CHECK(cleanPath("../../x") == "/x");
  CHECK(cleanPath("/..") == "/");
  CHECK(cleanPath("/../../..") == "/");
  CHECK(cleanPath("/a/b/..") == "/a");
  CHECK(cleanPath("/a/./../b/") == "/b");
  CHECK(cleanPath("/a/b/../../../c") == "/c");
  CHECK(cleanPath("/dev/../etc/passwd") == "/etc/passwd");
}

// ---------------------------------------------------------------------------------------------
// parseMountOptions

TEST_CASE("parseMountOptions: no options", "[plan][mount-options]") {
  auto o = parseMountOptions({});
  CHECK(o.flags == 0);
  CHECK(o.clearFlags == 0);
  CHECK(o.propagation.empty());
  CHECK(o.data.empty());
  CHECK_FALSE(o.bind);
  CHECK_FALSE(o.recursive);
}

TEST_CASE("parseMountOptions: each flag word sets or clears its flag", "[plan][mount-options]") {
  struct Row {
    const char* word;
    bool clear;
    unsigned long flag;
  };
  const Row rows[] = {
      {"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},
      {"nosuid", false, MS_NOSUID},      {"suid", true, MS_NOSUID},
      {"nodev", false, MS_NODEV},        {"dev", true, MS_NODEV},
      {"noexec", false, MS_NOEXEC},      {"exec", true, MS_NOEXEC},
      {"sync", false, MS_SYNCHRONOUS},   {"async", true, MS_SYNCHRONOUS},
      {"dirsync", false, MS_DIRSYNC},    {"remount", false, MS_REMOUNT},
      {"mand", false, MS_MANDLOCK},      {"nomand", true, MS_MANDLOCK},
      {"noatime", false, MS_NOATIME},    {"atime", true, MS_NOATIME},
      {"nodiratime", false, MS_NODIRATIME}, {"diratime", true, MS_NODIRATIME},
      {"relatime", false, MS_RELATIME},  {"norelatime", true, MS_RELATIME},
      {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
      {"lazytime", false, MS_LAZYTIME},  {"nolazytime", true, MS_LAZYTIME},
      {"silent", false, MS_SILENT},      {"loud", true, MS_SILENT},
      {"iversion", false, MS_I_VERSION}, {"noiversion", true, MS_I_VERSION},
  };
  for (const Row& r : rows) {
    INFO("option " << r.word);
    auto o = parseMountOptions({r.word});
    CHECK(o.flags == (r.clear ? 0 : r.flag));
    CHECK(o.clearFlags == (r.clear ? r.flag : 0));
    CHECK(o.data.empty());
    CHECK(o.propagation.empty());
    CHECK_FALSE(o.bind);
  }
}

TEST_CASE("parseMountOptions: flags combine and a later word wins", "[plan][mount-options]") {
  auto o = parseMountOptions({"ro", "nosuid", "nodev", "noexec", "relatime"});
  CHECK(o.flags == ul(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME));
  CHECK(o.clearFlags == 0);

  o = parseMountOptions({"ro", "rw"});
  CHECK(o.flags == 0);
  CHECK(o.clearFlags == ul(MS_RDONLY));

  o = parseMountOptions({"rw", "ro"});
  CHECK(o.flags == ul(MS_RDONLY));
  CHECK(o.clearFlags == 0);

  o = parseMountOptions({"nosuid", "suid", "dev", "exec", "strictatime"});
  CHECK(o.flags == ul(MS_STRICTATIME));
  CHECK(o.clearFlags == ul(MS_NOSUID | MS_NODEV | MS_NOEXEC));

  // "defaults" is a no-op, not filesystem data.
  o = parseMountOptions({"defaults"});
  CHECK(o.flags == 0);
  CHECK(o.clearFlags == 0);
  CHECK(o.data.empty());
}

TEST_CASE("parseMountOptions: bind and rbind", "[plan][mount-options]") {
  auto o = parseMountOptions({"bind"});
  CHECK(o.bind);
  CHECK_FALSE(o.recursive);
  CHECK(o.flags == 0);
  CHECK(o.data.empty());

  o = parseMountOptions({"rbind", "ro"});
  CHECK(o.bind);
  CHECK(o.recursive);
  CHECK(o.flags == ul(MS_RDONLY));
  CHECK(o.data.empty());

  // A later plain "bind" does not make an rbind non-recursive.
  o = parseMountOptions({"rbind", "bind"});
  CHECK(o.bind);
  CHECK(o.recursive);
}

TEST_CASE("parseMountOptions: propagation words are kept in order", "[plan][mount-options]") {
  auto o = parseMountOptions({"rshared"});
  REQUIRE(o.propagation.size() == 1);
  CHECK(o.propagation[0] == ul(MS_SHARED | MS_REC));
  CHECK(o.flags == 0);
  CHECK(o.data.empty());

  o = parseMountOptions({"private", "rslave", "nosuid", "unbindable", "runbindable", "shared",
                         "slave", "rprivate"});
  CHECK(o.propagation == std::vector<unsigned long>{MS_PRIVATE, MS_SLAVE | MS_REC,
                                                    MS_UNBINDABLE, MS_UNBINDABLE | MS_REC,
                                                    MS_SHARED, MS_SLAVE, MS_PRIVATE | MS_REC});
  CHECK(o.flags == ul(MS_NOSUID));
  CHECK(o.data.empty());
}

TEST_CASE("parseMountOptions: unknown words become comma-joined data", "[plan][mount-options]") {
  auto o = parseMountOptions({"nosuid", "size=64k", "strictatime", "mode=755"});
  CHECK(o.data == "size=64k,mode=755");
  CHECK(o.flags == ul(MS_NOSUID | MS_STRICTATIME));

  o = parseMountOptions({"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
  CHECK(o.data == "newinstance,ptmxmode=0666,mode=0620,gid=5");

  // Runtime-only words are neither flags nor filesystem data.
  o = parseMountOptions({"tmpcopyup", "idmap", "mode=1777", "ridmap"});
  CHECK(o.data == "mode=1777");
  CHECK(o.flags == 0);
  CHECK(o.clearFlags == 0);
  CHECK(o.propagation.empty());
}

TEST_CASE("propagationFlags maps one word", "[plan][mount-options]") {
  using sv::ns::propagationFlags;
  CHECK(propagationFlags("rslave") == ul(MS_SLAVE | MS_REC));
  CHECK(propagationFlags("private") == ul(MS_PRIVATE));
  CHECK(propagationFlags("runbindable") == ul(MS_UNBINDABLE | MS_REC));
  CHECK(propagationFlags("ro") == 0);
  CHECK(propagationFlags("") == 0);
  CHECK(propagationFlags("RSHARED") == 0);
}

// ---------------------------------------------------------------------------------------------
// parseCgroupLayout

TEST_CASE("parseCgroupLayout: hybrid host", "[plan][cgroup-layout]") {
  auto o = layoutOf(kHybridMountinfo);
  const auto& h = o.cgroupHierarchies;
  REQUIRE(h.size() == 4);  // the tmpfs at /sys/fs/cgroup is not a hierarchy
  CHECK(h[0].mountpoint == "/sys/fs/cgroup/cpu");
  CHECK(h[0].superOpts == "cpu");
  CHECK_FALSE(h[0].v2);
  CHECK(h[1].mountpoint == "/sys/fs/cgroup/memory");
  CHECK(h[1].superOpts == "memory");
  CHECK_FALSE(h[1].v2);
  CHECK(h[2].mountpoint == "/sys/fs/cgroup/systemd");
  CHECK(h[2].superOpts == "name=systemd");
  CHECK_FALSE(h[2].v2);
  CHECK(h[3].mountpoint == "/sys/fs/cgroup/unified");
  CHECK(h[3].superOpts.empty());
  CHECK(h[3].v2);
}

TEST_CASE("parseCgroupLayout: pure cgroup v2 host", "[plan][cgroup-layout]") {
  auto o = layoutOf(kPureV2Mountinfo);
  REQUIRE(o.cgroupHierarchies.size() == 1);
  CHECK(o.cgroupHierarchies[0].mountpoint == "/sys/fs/cgroup");
  CHECK(o.cgroupHierarchies[0].v2);
  CHECK(o.cgroupHierarchies[0].superOpts.empty());
}

TEST_CASE("parseCgroupLayout: co-mounted controllers keep only controller words",
          "[plan][cgroup-layout]") {
  auto o = layoutOf(kCoMountedMountinfo);
  const auto& h = o.cgroupHierarchies;
  REQUIRE(h.size() == 3);
  CHECK(h[0].mountpoint == "/sys/fs/cgroup/systemd");
  CHECK(h[0].superOpts == "name=systemd");  // xattr and release_agent=... dropped
  CHECK(h[1].mountpoint == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(h[1].superOpts == "cpu,cpuacct");  // rw and clone_children dropped
  CHECK_FALSE(h[1].v2);
  CHECK(h[2].mountpoint == "/sys/fs/cgroup/cpuset");
  CHECK(h[2].superOpts == "cpuset");  // noprefix dropped
}

TEST_CASE("parseCgroupLayout: no cgroups, garbage and a missing final newline",
          "[plan][cgroup-layout]") {
  CHECK(layoutOf("").cgroupHierarchies.empty());
  CHECK(layoutOf("not mountinfo at all\n\n - \n").cgroupHierarchies.empty());
  CHECK(layoutOf("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n").cgroupHierarchies.empty());
  auto o = layoutOf("41 31 0:38 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids");
  REQUIRE(o.cgroupHierarchies.size() == 1);
  CHECK(o.cgroupHierarchies[0].superOpts == "pids");
}

// ---------------------------------------------------------------------------------------------
// passwdHome

TEST_CASE("passwdHome looks up the home directory of a uid", "[plan][passwd]") {
  const std::string passwd =
      "root:x:0:0:root:/root:/bin/bash\n"
      "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
      "nohome:x:1001:1001:::/bin/sh\n"
      "short:x:1002:1002:/home/short\n"
      "this line is not a passwd entry\n"
      "\n"
      "big:x:10000:10000::/home/big:/bin/sh\n"
      "user:x:1000:1000:User,,,:/home/user:/bin/bash\n"
      "dup:x:1000:1000::/home/dup:/bin/sh\n"
      "late:x:1002:1002::/home/late:/bin/sh";  // no final newline
  CHECK(passwdHome(passwd, 0) == "/root");
  CHECK(passwdHome(passwd, 1) == "/usr/sbin");
  CHECK(passwdHome(passwd, 1000) == "/home/user");  // the first entry wins
  CHECK(passwdHome(passwd, 10000) == "/home/big");
  CHECK(passwdHome(passwd, 1001) == "/");  // empty home field
  // The malformed six-field line is skipped; the well-formed one after it is used.
  CHECK(passwdHome(passwd, 1002) == "/home/late");
  CHECK(passwdHome(passwd, 4242) == "/");  // missing
  CHECK(passwdHome(passwd, 100) == "/");   // no prefix match against 1000/10000
}

TEST_CASE("passwdHome: empty and malformed files give /", "[plan][passwd]") {
  CHECK(passwdHome("", 0) == "/");
  CHECK(passwdHome("root:x:0:0:root:/root\n", 0) == "/");  // six fields
  CHECK(passwdHome("garbage\n::::::\n", 0) == "/");
}

// ---------------------------------------------------------------------------------------------
// buildPlan: rootfs and process basics

TEST_CASE("buildPlan resolves the rootfs", "[plan][rootfs]") {
  Bundle b;
  SECTION("relative root.path is joined to the bundle") {
    auto p = b.plan();
    CHECK(p.rootfs == fs::canonical(b.rootfs()).string());
    CHECK(p.rootfs.front() == '/');
    CHECK_FALSE(p.readonlyRoot);
  }
  SECTION("absolute root.path is used as is, symlinks resolved") {
    TempDir other;
    fs::create_directory(other.file("real"));
    fs::create_directory_symlink(other.file("real"), other.file("link"));
    b.config["root"] = {{"path", other.file("link")}, {"readonly", true}};
    auto p = b.plan();
    CHECK(p.rootfs == other.file("real"));
    CHECK(p.readonlyRoot);
  }
  SECTION("a missing rootfs is a UserError naming it") {
    b.config["root"]["path"] = "nope";
    auto msg = errorOf([&] { b.plan(); });
    CHECK_THAT(msg, Contains("rootfs"));
    CHECK_THAT(msg, Contains((b.path() / "nope").string()));
  }
  SECTION("a rootfs that is a file is refused") {
    writeFile(b.path() / "file", "x");
    b.config["root"]["path"] = "file";
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("not a directory"));
  }
}

TEST_CASE("buildPlan passes options and process settings through", "[plan][process]") {
  Bundle b;
  b.config["process"] = json::parse(R"json({
    "args": ["/bin/app", "--flag"],
    "cwd": "/home/user/",
    "env": ["PATH=/bin", "HOME=/home/user", "A=b"],
    "user": {"uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 10]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
    "oomScoreAdj": -500,
    "noNewPrivileges": true
  })json");
  b.config["linux"]["personality"] = {{"domain", "LINUX32"}};
  PlanOptions o;
  o.noPivot = true;
  o.preserveFds = 3;
  auto p = b.plan(o);
  CHECK(p.noPivot);
  CHECK(p.preserveFds == 3);
  CHECK(p.args == std::vector<std::string>{"/bin/app", "--flag"});
  CHECK(p.env == std::vector<std::string>{"PATH=/bin", "HOME=/home/user", "A=b"});
  CHECK(p.cwd == "/home/user");
  CHECK(p.uid == 1000u);
  CHECK(p.gid == 100u);
  CHECK(p.additionalGids == std::vector<gid_t>{5, 10});
  REQUIRE(p.umask);
  CHECK(*p.umask == 022u);
  REQUIRE(p.rlimits.size() == 1);
  CHECK(p.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(p.rlimits[0].hard == 4096u);
  CHECK(p.rlimits[0].soft == 1024u);
  CHECK(p.oomScoreAdj == -500);
  CHECK(p.noNewPrivileges);
  REQUIRE(p.personality);
  CHECK(*p.personality == ul(PER_LINUX32));
  CHECK_FALSE(p.hasCapabilities);
}

TEST_CASE("buildPlan: terminal and console size", "[plan][process]") {
  Bundle b;
  b.config["process"]["terminal"] = true;
  b.config["process"]["consoleSize"] = {{"height", 40}, {"width", 132}};
  auto p = b.plan();
  CHECK(p.terminal);
  CHECK(p.consoleRows == 40);
  CHECK(p.consoleCols == 132);
  b.config["process"]["consoleSize"] = {{"height", 70000}, {"width", 1}};
  CHECK_THAT(errorOf([&] { b.plan(); }), Contains("consoleSize"));
}

TEST_CASE("buildPlan: ioPriority, scheduler, LSM labels", "[plan][process]") {
  Bundle b;
  b.config["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_RT"}, {"priority", 3}};
  b.config["process"]["scheduler"] = {
      {"policy", "SCHED_DEADLINE"}, {"runtime", 1000}, {"deadline", 2000}, {"period", 3000},
      {"flags", {"SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"}}};
  b.config["process"]["apparmorProfile"] = "docker-default";
  auto p = b.plan();
  REQUIRE(p.ioPriority);
  CHECK(*p.ioPriority == (1 << 13 | 3));
  REQUIRE(p.scheduler);
  CHECK(p.scheduler->size == 56);
  CHECK(p.scheduler->policy == 6);
  CHECK(p.scheduler->flags == 3);
  CHECK(p.scheduler->runtime == 1000);
  CHECK(p.scheduler->deadline == 2000);
  CHECK(p.scheduler->period == 3000);
  CHECK(p.apparmorProfile == "docker-default");

  SECTION("errors name the field") {
    auto err = [&](nlohmann::json v) {
      b.config["process"]["scheduler"] = v;
      return errorOf<SpecError>([&] { b.plan(); });
    };
    CHECK_THAT(err({{"policy", "SCHED_FAST"}}), Contains("SCHED_FAST") && Contains("SCHED_OTHER"));
    CHECK_THAT(err({{"nice", 1}}), Contains("process.scheduler.policy"));
    CHECK_THAT(err({{"policy", "SCHED_OTHER"}, {"nice", 20}}), Contains("nice"));
    CHECK_THAT(err({{"policy", "SCHED_RR"}}), Contains("process.scheduler.priority"));
    CHECK_THAT(err({{"policy", "SCHED_OTHER"}, {"priority", 5}}), Contains("priority"));
    CHECK_THAT(err({{"policy", "SCHED_DEADLINE"}, {"runtime", 5}, {"deadline", 1}}),
               Contains("SCHED_DEADLINE"));
    CHECK_THAT(err({{"policy", "SCHED_OTHER"}, {"flags", {"SCHED_FLAG_NOPE"}}}),
               Contains("process.scheduler.flags[0]"));
    b.config["process"].erase("scheduler");
    b.config["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_BE"}, {"priority", 8}};
    CHECK_THAT(errorOf<SpecError>([&] { b.plan(); }), Contains("process.ioPriority.priority"));
    b.config["process"]["ioPriority"] = {{"priority", 1}};
    CHECK_THAT(errorOf<SpecError>([&] { b.plan(); }), Contains("process.ioPriority.class"));
  }
}

TEST_CASE("buildPlan: without a mount namespace of its own the container shares ours",
          "[plan][namespaces]") {
  Bundle b;
  CHECK_FALSE(b.plan().sharedMountNs);
  b.config["linux"]["namespaces"] = json::array();
  auto p = b.plan();
  CHECK(p.sharedMountNs);
  CHECK_FALSE(p.cloneFlags & CLONE_NEWNS);
  b.config["linux"]["namespaces"] = {{{"type", "mount"}, {"path", "/proc/self/ns/mnt"}}};
  p = b.plan();
  CHECK_FALSE(p.sharedMountNs);
  REQUIRE(p.joins.size() == 1);
}

TEST_CASE("buildPlan refuses specs it cannot run", "[plan][process]") {
  Bundle b;
  SECTION("no process") {
    b.config.erase("process");
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("process"));
  }
}

// ---------------------------------------------------------------------------------------------
// buildPlan: namespaces

TEST_CASE("buildPlan: new namespaces become clone flags", "[plan][namespaces]") {
  Bundle b;
  b.config["linux"]["namespaces"] = json::parse(R"json([
    {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
    {"type": "cgroup"}
  ])json");
  auto p = b.plan();
  CHECK(p.cloneFlags == (CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                         CLONE_NEWNS | CLONE_NEWCGROUP));
  CHECK(p.joins.empty());
  CHECK_FALSE(p.newUserNs);
  CHECK_FALSE(p.needsIntermediate);
  CHECK(p.uidMap.empty());
  CHECK(p.gidMap.empty());
  CHECK(p.timeOffsets.empty());
}

TEST_CASE("buildPlan: joined namespaces, user namespace first", "[plan][namespaces]") {
  Bundle b;
  b.config["linux"]["namespaces"] = json::parse(R"json([
    {"type": "network", "path": "/proc/self/ns/net"},
    {"type": "mount"},
    {"type": "ipc", "path": "/proc/self/ns/ipc"},
    {"type": "user", "path": "/proc/self/ns/user"},
    {"type": "uts", "path": "/proc/self/ns/uts"}
  ])json");
  auto p = b.plan();
  CHECK(joinTypes(p) == std::vector<std::string>{"user", "network", "ipc", "uts"});
  REQUIRE(p.joins.size() == 4);
  CHECK(p.joins[0].path == "/proc/self/ns/user");
  CHECK(p.joins[1].path == "/proc/self/ns/net");
  CHECK(p.joins[2].path == "/proc/self/ns/ipc");
  CHECK(p.joins[3].path == "/proc/self/ns/uts");
  CHECK(p.cloneFlags == CLONE_NEWNS);  // only the mount namespace is new
  CHECK_FALSE(p.newUserNs);
  CHECK(p.needsIntermediate);
}

TEST_CASE("buildPlan: bad namespace paths", "[plan][namespaces]") {
  Bundle b;
  SECTION("missing") {
    b.config["linux"]["namespaces"].push_back(
        {{"type", "network"}, {"path", "/proc/self/ns/no-such-ns"}});
    auto msg = errorOf([&] { b.plan(); });
    CHECK_THAT(msg, Contains("/proc/self/ns/no-such-ns"));
    CHECK_THAT(msg, Contains("network"));
  }
  SECTION("relative (parseSpec refuses it too; buildPlan must not trust that)") {
    auto spec = b.spec();
    spec.linux->namespaces.push_back({NsType::kIpc, "proc/self/ns/ipc"});
    CHECK_THAT(errorOf([&] { buildPlan(spec, b.options()); }), Contains("absolute"));
  }
}

TEST_CASE("buildPlan: a new user namespace and its id maps", "[plan][namespaces][userns]") {
  Bundle b;
  b.config["linux"]["namespaces"] = json::parse(R"json([{"type": "mount"}, {"type": "user"}])json");
  SECTION("maps are rendered as /proc/<pid>/uid_map text") {
    b.config["linux"]["uidMappings"] = json::parse(R"json([
      {"containerID": 0, "hostID": 1000, "size": 1}
    ])json");
    b.config["linux"]["gidMappings"] = json::parse(R"json([
      {"containerID": 0, "hostID": 1000, "size": 1},
      {"containerID": 1, "hostID": 100000, "size": 65536}
    ])json");
    auto p = b.plan();
    CHECK(p.newUserNs);
    CHECK(p.cloneFlags == (CLONE_NEWNS | CLONE_NEWUSER));
    CHECK(p.uidMap == "0 1000 1\n");
    CHECK(p.gidMap == "0 1000 1\n1 100000 65536\n");
    CHECK_FALSE(p.needsIntermediate);
  }
  SECTION("no mappings at all") {
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("uidMappings"));
  }
  SECTION("uid mappings without gid mappings") {
    b.config["linux"]["uidMappings"] = json::parse(R"json([
      {"containerID": 0, "hostID": 1000, "size": 1}
    ])json");
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("gidMappings"));
  }
}

TEST_CASE("buildPlan: time namespace offsets", "[plan][namespaces][time]") {
  Bundle b;
  b.config["linux"]["timeOffsets"] = json::parse(R"json({
    "monotonic": {"secs": 5, "nanosecs": 7}, "boottime": {"secs": -3}
  })json");
  SECTION("a new time namespace gets timens_offsets text and an intermediate process") {
    b.config["linux"]["namespaces"].push_back({{"type", "time"}});
    auto p = b.plan();
    CHECK(p.timeOffsets == "boottime -3 0\nmonotonic 5 7\n");
    CHECK((p.cloneFlags & CLONE_NEWTIME) != 0);
    CHECK(p.needsIntermediate);
    CHECK(p.joins.empty());
  }
  SECTION("offsets cannot be applied to a joined time namespace") {
    b.config["linux"]["namespaces"].push_back(
        {{"type", "time"}, {"path", "/proc/self/ns/time"}});
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("time namespace"));
  }
}

TEST_CASE("buildPlan: the mount namespace", "[plan][namespaces]") {
  Bundle b;
  SECTION("no linux section: a new mount namespace is implied") {
    b.config.erase("linux");
    auto p = b.plan();
    CHECK(p.cloneFlags == CLONE_NEWNS);
    CHECK(p.devices.size() == 6);
  }
}

TEST_CASE("buildPlan: hostname and domainname need a UTS namespace", "[plan][namespaces][uts]") {
  Bundle b;
  b.config["hostname"] = "box";
  b.config["domainname"] = "example.org";
  SECTION("new UTS namespace") {
    b.config["linux"]["namespaces"].push_back({{"type", "uts"}});
    auto p = b.plan();
    CHECK(p.hostname == "box");
    CHECK(p.domainname == "example.org");
  }
  SECTION("joined UTS namespace") {
    b.config["linux"]["namespaces"].push_back({{"type", "uts"}, {"path", "/proc/self/ns/uts"}});
    CHECK(b.plan().hostname == "box");
  }
  SECTION("no UTS namespace (parseSpec catches it too; buildPlan must not trust that)") {
    b.config["linux"]["namespaces"].push_back({{"type", "uts"}});
    auto spec = b.spec();
    spec.linux->namespaces.pop_back();
    CHECK_THAT(errorOf([&] { buildPlan(spec, b.options()); }), Contains("UTS"));
    spec.linux.reset();
    CHECK_THAT(errorOf([&] { buildPlan(spec, b.options()); }), Contains("UTS"));
  }
  SECTION("no hostname: nothing to set") {
    b.config.erase("hostname");
    b.config.erase("domainname");
    auto p = b.plan();
    CHECK_FALSE(p.hostname);
    CHECK_FALSE(p.domainname);
  }
}

TEST_CASE("buildPlan: rootfs propagation", "[plan][propagation]") {
  Bundle b;
  SECTION("default: / becomes a recursive slave, nothing after pivot") {
    auto p = b.plan();
    CHECK(p.rootPropagation == ul(MS_SLAVE | MS_REC));
    CHECK(p.rootPropagationAfter == 0);
  }
  SECTION("rprivate") {
    b.config["linux"]["rootfsPropagation"] = "rprivate";
    auto p = b.plan();
    CHECK(p.rootPropagation == ul(MS_PRIVATE | MS_REC));
    CHECK(p.rootPropagationAfter == ul(MS_PRIVATE | MS_REC));
  }
  SECTION("shared keeps the slave default before pivot") {
    b.config["linux"]["rootfsPropagation"] = "shared";
    auto p = b.plan();
    CHECK(p.rootPropagation == ul(MS_SLAVE | MS_REC));
    CHECK(p.rootPropagationAfter == ul(MS_SHARED));
  }
  SECTION("unknown word") {
    auto spec = b.spec();
    spec.linux->rootfsPropagation = "bogus";
    CHECK_THAT(errorOf([&] { buildPlan(spec, b.options()); }), Contains("bogus"));
  }
}

// ---------------------------------------------------------------------------------------------
// buildPlan: mounts

TEST_CASE("buildPlan: bind mounts", "[plan][mounts]") {
  Bundle b;
  fs::create_directory(b.path() / "data");
  writeFile(b.path() / "hosts", "127.0.0.1 localhost\n");
  const std::string data = (b.path() / "data").string();
  SECTION("absolute directory source, rbind with flags: remount") {
    b.config["mounts"] = {{{"destination", "/mnt/data/"},
                           {"source", data},
                           {"options", {"rbind", "ro", "nosuid"}}}};
    auto p = b.plan();
    REQUIRE(p.mounts.size() == 1);
    const auto& m = p.mounts[0];
    CHECK(m.kind == MountKind::kBind);
    CHECK(m.type == "bind");
    CHECK(m.source == data);
    CHECK(m.destination == "/mnt/data");
    CHECK(m.recursive);
    CHECK(m.sourceIsDir);
    CHECK(m.remount);
    CHECK(m.flags == ul(MS_RDONLY | MS_NOSUID));
    CHECK(m.propagation.empty());
  }
  SECTION("plain bind: no remount") {
    b.config["mounts"] = {{{"destination", "/mnt"}, {"source", data}, {"options", {"bind"}}}};
    const PlannedMount m = b.plan().mounts.at(0);
    CHECK(m.kind == MountKind::kBind);
    CHECK_FALSE(m.recursive);
    CHECK_FALSE(m.remount);
    CHECK(m.flags == 0);
  }
  SECTION("propagation alone is not a remount") {
    b.config["mounts"] = {
        {{"destination", "/mnt"}, {"source", data}, {"options", {"rbind", "rprivate"}}}};
    const PlannedMount m = b.plan().mounts.at(0);
    CHECK_FALSE(m.remount);
    CHECK(m.propagation == std::vector<unsigned long>{MS_PRIVATE | MS_REC});
  }
  SECTION("type bind without a bind option is still a bind") {
    b.config["mounts"] = {
        {{"destination", "/mnt"}, {"type", "bind"}, {"source", data}, {"options", {"ro"}}}};
    const PlannedMount m = b.plan().mounts.at(0);
    CHECK(m.kind == MountKind::kBind);
    CHECK(m.remount);
    CHECK(m.flags == ul(MS_RDONLY));
  }
  SECTION("relative source is joined to the bundle; a file source is not a directory") {
    b.config["mounts"] = {
        {{"destination", "/etc/hosts"}, {"type", "none"}, {"source", "hosts"},
         {"options", {"bind"}}}};
    const PlannedMount m = b.plan().mounts.at(0);
    CHECK(m.kind == MountKind::kBind);
    CHECK(m.source == (b.path() / "hosts").string());
    CHECK_FALSE(m.sourceIsDir);
  }
  SECTION("a device node source is not a directory") {
    b.config["mounts"] = {
        {{"destination", "/dev/null"}, {"source", "/dev/null"}, {"options", {"bind"}}}};
    CHECK_FALSE(b.plan().mounts.at(0).sourceIsDir);
  }
  SECTION("a missing source is refused, naming it") {
    b.config["mounts"] = {
        {{"destination", "/mnt"}, {"source", "missing"}, {"options", {"rbind"}}}};
    auto msg = errorOf([&] { b.plan(); });
    CHECK_THAT(msg, Contains((b.path() / "missing").string()));
    CHECK_THAT(msg, Contains("/mnt"));
  }
  SECTION("a bind without a source is refused") {
    b.config["mounts"] = {{{"destination", "/mnt"}, {"options", {"bind"}}}};
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("/mnt"));
  }
  SECTION("idmapped bind keeps its mappings") {
    b.config["mounts"] = {{{"destination", "/mnt"},
                           {"source", data},
                           {"options", {"rbind", "idmap"}},
                           {"uidMappings", {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}}},
                           {"gidMappings", {{{"containerID", 0}, {"hostID", 2000}, {"size", 2}}}}}};
    const PlannedMount m = b.plan().mounts.at(0);
    REQUIRE(m.uidMappings.size() == 1);
    CHECK(m.uidMappings[0].hostID == 1000u);
    REQUIRE(m.gidMappings.size() == 1);
    CHECK(m.gidMappings[0].hostID == 2000u);
    CHECK(m.gidMappings[0].size == 2u);
    CHECK(m.data.empty());
    CHECK_FALSE(m.remount);
  }
}

TEST_CASE("buildPlan: filesystem mounts", "[plan][mounts]") {
  Bundle b;
  b.config["mounts"] = json::parse(R"json([
    {"destination": "/proc", "type": "proc"},
    {"destination": "/tmp/", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "size=64k", "mode=755", "rshared"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777"]}
  ])json");
  auto p = b.plan();
  REQUIRE(p.mounts.size() == 3);
  CHECK(p.mounts[0].destination == "/proc");
  CHECK(p.mounts[1].destination == "/tmp");
  CHECK(p.mounts[2].destination == "/dev/shm");

  const auto& proc = p.mounts[0];
  CHECK(proc.kind == MountKind::kFs);
  CHECK(proc.type == "proc");
  CHECK(proc.source == "proc");  // no source: the type names it
  CHECK(proc.flags == 0);
  CHECK(proc.data.empty());

  const auto& tmp = p.mounts[1];
  CHECK(tmp.kind == MountKind::kFs);
  CHECK(tmp.type == "tmpfs");
  CHECK(tmp.source == "tmpfs");
  CHECK(tmp.flags == ul(MS_NOSUID | MS_STRICTATIME));
  CHECK(tmp.data == "size=64k,mode=755");
  CHECK(tmp.propagation == std::vector<unsigned long>{MS_SHARED | MS_REC});

  const auto& shm = p.mounts[2];
  CHECK(shm.source == "shm");
  CHECK(shm.flags == ul(MS_NOSUID | MS_NOEXEC | MS_NODEV));
  CHECK(shm.data == "mode=1777");

  CHECK(p.setupDev);  // /dev itself is not bind-mounted
}

TEST_CASE("buildPlan: a mount with no type and no bind option is refused", "[plan][mounts]") {
  Bundle b;
  b.config["mounts"] = {{{"destination", "/x"}, {"source", "something"}}};
  CHECK_THAT(errorOf([&] { b.plan(); }), Contains("/x"));
}

TEST_CASE("buildPlan: cgroup mounts follow the host layout", "[plan][mounts][cgroup]") {
  Bundle b;
  b.config["mounts"] = {{{"destination", "/sys/fs/cgroup"},
                         {"type", "cgroup"},
                         {"source", "cgroup"},
                         {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}};
  SECTION("hybrid host: v1 hierarchies") {
    auto o = layoutOf(kHybridMountinfo);
    auto p = b.plan(o);
    REQUIRE(p.mounts.size() == 1);
    const auto& m = p.mounts[0];
    CHECK(m.kind == MountKind::kCgroupV1);
    CHECK(m.type == "cgroup");
    CHECK(m.destination == "/sys/fs/cgroup");
    CHECK(m.flags == ul(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY));
    REQUIRE(p.cgroupHierarchies.size() == 4);
    for (size_t i = 0; i < 4; ++i) {
      CHECK(p.cgroupHierarchies[i].mountpoint == o.cgroupHierarchies[i].mountpoint);
      CHECK(p.cgroupHierarchies[i].superOpts == o.cgroupHierarchies[i].superOpts);
      CHECK(p.cgroupHierarchies[i].v2 == o.cgroupHierarchies[i].v2);
    }
  }
  SECTION("pure v2 host: one cgroup2 mount") {
    auto p = b.plan(layoutOf(kPureV2Mountinfo));
    const auto& m = p.mounts.at(0);
    CHECK(m.kind == MountKind::kCgroupV2);
    CHECK(m.type == "cgroup2");
    CHECK(m.flags == ul(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY));
    REQUIRE(p.cgroupHierarchies.size() == 1);
    CHECK(p.cgroupHierarchies[0].v2);
  }
  SECTION("co-mounted v1 controllers") {
    auto p = b.plan(layoutOf(kCoMountedMountinfo));
    CHECK(p.mounts.at(0).kind == MountKind::kCgroupV1);
    REQUIRE(p.cgroupHierarchies.size() == 3);
    CHECK(p.cgroupHierarchies[1].superOpts == "cpu,cpuacct");
  }
  SECTION("no cgroup mount in the spec: the layout is not carried") {
    b.config["mounts"] = json::array();
    CHECK(b.plan(layoutOf(kHybridMountinfo)).cgroupHierarchies.empty());
  }
}

// On a pure v2 host the cgroup2 hierarchy can show up at more than one mount point (a bind of
// /sys/fs/cgroup elsewhere, a nested runtime). The host is still unified: runc decides with
// statfs("/sys/fs/cgroup") == CGROUP2_SUPER_MAGIC. Expected to fail until the planner stops
// requiring exactly one hierarchy.
TEST_CASE("buildPlan: pure v2 host with cgroup2 mounted twice is still v2",
          "[plan][mounts][cgroup]") {
  Bundle b;
  b.config["mounts"] = {{{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}}};
  const std::string mountinfo =
      std::string(kPureV2Mountinfo) +
      "90 22 0:23 / /run/nested/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n";
  auto p = b.plan(layoutOf(mountinfo.c_str()));
  CHECK(p.mounts.at(0).kind == MountKind::kCgroupV2);
}

TEST_CASE("buildPlan: binding /dev turns off device setup", "[plan][mounts][devices]") {
  Bundle b;
  b.config["mounts"] = {{{"destination", "//dev/"}, {"source", "/dev"}, {"options", {"rbind"}}}};
  auto p = b.plan();
  CHECK(p.mounts.at(0).destination == "/dev");
  CHECK_FALSE(p.setupDev);
  CHECK(p.devices.empty());

  b.config["mounts"] = {{{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}}};
  p = b.plan();
  CHECK(p.setupDev);
  CHECK(p.devices.size() == 6);
}

// ---------------------------------------------------------------------------------------------
// buildPlan: devices

TEST_CASE("buildPlan: default devices", "[plan][devices]") {
  Bundle b;
  auto p = b.plan();
  struct Expected {
    const char* path;
    unsigned major, minor;
  };
  const Expected expected[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},
                               {"/dev/full", 1, 7},   {"/dev/random", 1, 8},
                               {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
  REQUIRE(p.devices.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    const auto& d = p.devices[i];
    INFO(d.path);
    CHECK(d.path == expected[i].path);
    CHECK(d.mode == md(S_IFCHR | 0666));
    CHECK(major(d.dev) == expected[i].major);
    CHECK(minor(d.dev) == expected[i].minor);
    CHECK(d.uid == 0u);
    CHECK(d.gid == 0u);
    CHECK_FALSE(d.bindFromHost);
  }
}

TEST_CASE("buildPlan: spec devices", "[plan][devices]") {
  Bundle b;
  b.config["linux"]["devices"] = json::parse(R"json([
    {"type": "c", "path": "/dev/null", "major": 1, "minor": 3, "fileMode": 384,
     "uid": 5, "gid": 6},
    {"type": "b", "path": "/dev/sda", "major": 8, "minor": 0},
    {"type": "p", "path": "/dev/./fifo"},
    {"type": "u", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 8630}
  ])json");
  auto p = b.plan();
  REQUIRE(p.devices.size() == 9);  // /dev/null replaced in place, three added
  const auto& null = p.devices[0];
  CHECK(null.path == "/dev/null");
  CHECK(null.mode == md(S_IFCHR | 0600));
  CHECK(null.dev == makedev(1, 3));
  CHECK(null.uid == 5u);
  CHECK(null.gid == 6u);
  CHECK(p.devices[1].path == "/dev/zero");

  const auto& sda = p.devices[6];
  CHECK(sda.path == "/dev/sda");
  CHECK(sda.mode == md(S_IFBLK | 0666));
  CHECK(sda.dev == makedev(8, 0));

  const auto& fifo = p.devices[7];
  CHECK(fifo.path == "/dev/fifo");
  CHECK(fifo.mode == md(S_IFIFO | 0666));

  const auto& fuse = p.devices[8];
  CHECK(fuse.path == "/dev/fuse");
  CHECK(fuse.mode == md(S_IFCHR | 0666));  // 8630 == 020666: type bits come from "type"
  CHECK(fuse.dev == makedev(10, 229));
}

TEST_CASE("buildPlan: devices are bound from the host in a new user namespace",
          "[plan][devices][userns]") {
  Bundle b;
  b.config["linux"] = json::parse(R"json({
    "namespaces": [{"type": "mount"}, {"type": "user"}],
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229}]
  })json");
  auto p = b.plan();
  REQUIRE(p.devices.size() == 7);
  for (const auto& d : p.devices) {
    INFO(d.path);
    CHECK(d.bindFromHost);
  }
}

// ---------------------------------------------------------------------------------------------
// buildPlan: sysctls, masked and read-only paths

TEST_CASE("buildPlan: namespaced sysctls map to /proc/sys paths", "[plan][sysctl]") {
  Bundle b;
  b.config["linux"]["namespaces"] = json::parse(R"json([
    {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
    {"type": "network", "path": "/proc/self/ns/net"}
  ])json");
  b.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"},
                                 {"kernel.shmmax", "100"},
                                 {"fs.mqueue.msg_max", "20"},
                                 {"kernel.domainname", "example.org"},
                                 {"kernel.shm_rmid_forced", "1"}};
  auto p = b.plan();
  using Sysctl = std::pair<std::string, std::string>;
  CHECK(p.sysctls == std::vector<Sysctl>{
                         {"/proc/sys/fs/mqueue/msg_max", "20"},
                         {"/proc/sys/kernel/domainname", "example.org"},
                         {"/proc/sys/kernel/shm_rmid_forced", "1"},
                         {"/proc/sys/kernel/shmmax", "100"},
                         {"/proc/sys/net/ipv4/ip_forward", "1"},
                     });
}

TEST_CASE("buildPlan: sysctls outside the container's namespaces are refused", "[plan][sysctl]") {
  Bundle b;
  b.config["linux"]["namespaces"] = json::parse(R"json([{"type": "mount"}, {"type": "ipc"}])json");
  SECTION("not namespaced at all") {
    b.config["linux"]["sysctl"] = {{"kernel.panic", "1"}};
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("kernel.panic"));
  }
  SECTION("an exact-match rule is not a prefix") {
    b.config["linux"]["sysctl"] = {{"kernel.shmmax2", "1"}};
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("kernel.shmmax2"));
  }
  SECTION("net.* without a network namespace") {
    b.config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    auto msg = errorOf([&] { b.plan(); });
    CHECK_THAT(msg, Contains("net.ipv4.ip_forward"));
    CHECK_THAT(msg, Contains("network"));
  }
  SECTION("kernel.hostname without a UTS namespace") {
    b.config["linux"]["sysctl"] = {{"kernel.hostname", "x"}};
    CHECK_THAT(errorOf([&] { b.plan(); }), Contains("uts"));
  }
  SECTION("ipc sysctls are fine with the ipc namespace") {
    b.config["linux"]["sysctl"] = {{"kernel.msgmax", "8192"}};
    auto p = b.plan();
    REQUIRE(p.sysctls.size() == 1);
    CHECK(p.sysctls[0].first == "/proc/sys/kernel/msgmax");
  }
}

TEST_CASE("buildPlan: masked and read-only paths are cleaned", "[plan][paths]") {
  Bundle b;
  b.config["linux"]["maskedPaths"] = {"/proc//kcore/", "/proc/./acpi", "/sys/firmware"};
  b.config["linux"]["readonlyPaths"] = {"/proc/sys/", "/proc/a/../bus"};
  auto p = b.plan();
  CHECK(p.maskedPaths == std::vector<std::string>{"/proc/kcore", "/proc/acpi", "/sys/firmware"});
  CHECK(p.readonlyPaths == std::vector<std::string>{"/proc/sys", "/proc/bus"});
}

// ---------------------------------------------------------------------------------------------
// buildPlan: capabilities

TEST_CASE("buildPlan: capabilities become bitmasks", "[plan][caps]") {
  Bundle b;
  b.config["process"]["capabilities"] = json::parse(R"json({
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"],
    "effective": ["CAP_KILL"],
    "permitted": ["CAP_SYS_ADMIN", "CAP_KILL"],
    "inheritable": [],
    "ambient": ["CAP_NET_BIND_SERVICE"]
  })json");
  auto p = b.plan();
  CHECK(p.hasCapabilities);
  CHECK(p.capBounding == ((uint64_t{1} << 0) | (uint64_t{1} << 5) | (uint64_t{1} << 40)));
  CHECK(p.capEffective == (uint64_t{1} << 5));
  CHECK(p.capPermitted == ((uint64_t{1} << 21) | (uint64_t{1} << 5)));
  CHECK(p.capInheritable == 0u);
  CHECK(p.capAmbient == (uint64_t{1} << 10));
}

TEST_CASE("buildPlan: an empty capabilities object drops everything", "[plan][caps]") {
  Bundle b;
  b.config["process"]["capabilities"] = json::object();
  auto p = b.plan();
  CHECK(p.hasCapabilities);
  CHECK(p.capBounding == 0u);
  CHECK(p.capEffective == 0u);
  CHECK(p.capPermitted == 0u);
}

// ---------------------------------------------------------------------------------------------
// buildPlan: executable candidates

TEST_CASE("buildPlan: exec candidates", "[plan][exec]") {
  Bundle b;
  auto& process = b.config["process"];
  SECTION("PATH from the environment, in order") {
    process["env"] = {"PATH=/usr/bin:/opt//bin/:/bin", "HOME=/"};
    CHECK(b.plan().execCandidates ==
          std::vector<std::string>{"/usr/bin/sh", "/opt/bin/sh", "/bin/sh"});
  }
  SECTION("default PATH when the environment has none") {
    process["env"] = {"HOME=/"};
    CHECK(b.plan().execCandidates ==
          std::vector<std::string>{"/usr/local/sbin/sh", "/usr/local/bin/sh", "/usr/sbin/sh",
                                   "/usr/bin/sh", "/sbin/sh", "/bin/sh"});
  }
  SECTION("an empty PATH element is the working directory") {
    process["env"] = {"PATH=/bin:", "HOME=/"};
    process["cwd"] = "/srv";
    CHECK(b.plan().execCandidates == std::vector<std::string>{"/bin/sh", "/srv/sh"});
  }
  SECTION("a name that is a PATH-like variable prefix is not PATH") {
    process["env"] = {"MYPATH=/nope", "PATHX=/nope", "HOME=/"};
    CHECK(b.plan().execCandidates.size() == 6);
  }
  SECTION("an absolute args[0] is used as is") {
    process["args"] = {"/bin/true", "arg"};
    CHECK(b.plan().execCandidates == std::vector<std::string>{"/bin/true"});
  }
  SECTION("a relative args[0] with a slash is resolved against cwd") {
    process["args"] = {"./x"};
    process["cwd"] = "/work/dir";
    CHECK(b.plan().execCandidates == std::vector<std::string>{"/work/dir/x"});
    process["args"] = {"../bin/tool"};
    process["cwd"] = "/a/b/";
    CHECK(b.plan().execCandidates == std::vector<std::string>{"/a/bin/tool"});
  }
}

// ---------------------------------------------------------------------------------------------
// buildPlan: HOME from the container's /etc/passwd

TEST_CASE("buildPlan: HOME comes from the rootfs's /etc/passwd", "[plan][home]") {
  Bundle b;
  b.config["process"]["env"] = {"PATH=/bin", "TERM=xterm"};
  b.config["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  const std::string passwd =
      "root:x:0:0:root:/root:/bin/sh\n"
      "user:x:1000:1000::/home/user:/bin/sh\n";

  SECTION("found: HOME appended after the spec's variables") {
    writeFile(b.rootfs() / "etc/passwd", passwd);
    auto p = b.plan();
    CHECK(p.env == std::vector<std::string>{"PATH=/bin", "TERM=xterm", "HOME=/home/user"});
  }
  SECTION("uid not in the file") {
    writeFile(b.rootfs() / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    CHECK(homeOf(b.plan()) == "/");
  }
  SECTION("no /etc/passwd in the rootfs") {
    CHECK(homeOf(b.plan()) == "/");
  }
  SECTION("HOME already set is kept and not duplicated") {
    writeFile(b.rootfs() / "etc/passwd", passwd);
    b.config["process"]["env"] = {"HOME=/custom", "PATH=/bin"};
    auto p = b.plan();
    CHECK(p.env == std::vector<std::string>{"HOME=/custom", "PATH=/bin"});
  }
  SECTION("an empty HOME= still counts as set") {
    writeFile(b.rootfs() / "etc/passwd", passwd);
    b.config["process"]["env"] = {"HOME="};
    CHECK(b.plan().env == std::vector<std::string>{"HOME="});
  }
  SECTION("a variable that merely starts with HOME does not count") {
    writeFile(b.rootfs() / "etc/passwd", passwd);
    b.config["process"]["env"] = {"HOMEDIR=/x"};
    auto p = b.plan();
    CHECK(p.env == std::vector<std::string>{"HOMEDIR=/x", "HOME=/home/user"});
  }
  SECTION("a FIFO at /etc/passwd is not read (and does not block)") {
    fs::create_directories(b.rootfs() / "etc");
    REQUIRE(::mkfifo((b.rootfs() / "etc/passwd").c_str(), 0644) == 0);
    CHECK(homeOf(b.plan()) == "/");
  }
  SECTION("a directory at /etc/passwd is not read") {
    fs::create_directories(b.rootfs() / "etc/passwd");
    CHECK(homeOf(b.plan()) == "/");
  }
}

TEST_CASE("buildPlan: /etc/passwd symlinks resolve inside the rootfs", "[plan][home]") {
  Bundle b;
  b.config["process"]["env"] = {"PATH=/bin"};
  b.config["process"]["user"] = {{"uid", 0}, {"gid", 0}};
  fs::create_directories(b.rootfs() / "etc");

  SECTION("absolute link to the host's /etc/passwd stays in the rootfs") {
    // Only meaningful if following the link on the host would give a different answer.
    REQUIRE(passwdHome(sv::readFile("/etc/passwd"), 0) != "/");
    fs::create_symlink("/etc/passwd", b.rootfs() / "etc/passwd");
    // Inside the rootfs the link points at itself: there is no passwd, so HOME is "/".
    CHECK(homeOf(b.plan()) == "/");
  }
  SECTION("absolute link to another file finds the rootfs's copy") {
    writeFile(b.rootfs() / "etc/passwd.real", "root:x:0:0:root:/inside:/bin/sh\n");
    fs::create_symlink("/etc/passwd.real", b.rootfs() / "etc/passwd");
    CHECK(homeOf(b.plan()) == "/inside");
  }
  SECTION("a relative link climbing out is clamped at the rootfs") {
    writeFile(b.rootfs() / "data/pw", "root:x:0:0:root:/clamped:/bin/sh\n");
    fs::create_symlink("../../../../../../../../data/pw", b.rootfs() / "etc/passwd");
    CHECK(homeOf(b.plan()) == "/clamped");
  }
  SECTION("an absolute link for /etc itself stays in the rootfs") {
    fs::remove(b.rootfs() / "etc");
    writeFile(b.rootfs() / "elsewhere/passwd", "root:x:0:0:root:/via-etc-link:/bin/sh\n");
    fs::create_directory_symlink("/elsewhere", b.rootfs() / "etc");
    CHECK(homeOf(b.plan()) == "/via-etc-link");
  }
}

// ---------------------------------------------------------------------------------------------
// The config.json that `spec` writes, planned end to end

TEST_CASE("buildPlan: runc's default spec", "[plan][default-spec]") {
  Bundle b;
  b.config = json::parse(sv::oci::defaultSpecJson(false));
  b.config["process"]["terminal"] = false;
  auto p = b.plan(layoutOf(kHybridMountinfo));

  CHECK(p.rootfs == b.rootfs().string());
  CHECK(p.readonlyRoot);
  CHECK(p.cloneFlags == (CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS));
  CHECK(p.hostname == "runc");
  CHECK_FALSE(p.newUserNs);

  std::vector<std::string> destinations;
  for (const auto& m : p.mounts) destinations.push_back(m.destination);
  CHECK(destinations == std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm",
                                                 "/dev/mqueue", "/sys", "/sys/fs/cgroup"});
  CHECK(mountAt(p, "/dev/pts").data == "newinstance,ptmxmode=0666,mode=0620,gid=5");
  CHECK(mountAt(p, "/dev/pts").flags == ul(MS_NOSUID | MS_NOEXEC));
  CHECK(mountAt(p, "/dev").data == "mode=755,size=65536k");
  CHECK(mountAt(p, "/sys").kind == MountKind::kFs);
  CHECK(mountAt(p, "/sys").flags == ul(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
  CHECK(mountAt(p, "/sys/fs/cgroup").kind == MountKind::kCgroupV1);

  CHECK(p.setupDev);
  CHECK(p.devices.size() == 6);
  CHECK(p.maskedPaths.size() == 10);
  CHECK(p.readonlyPaths.size() == 5);
  const uint64_t caps = (uint64_t{1} << 29) | (uint64_t{1} << 5) | (uint64_t{1} << 10);
  CHECK(p.capBounding == caps);
  CHECK(p.capAmbient == caps);
  CHECK(p.capInheritable == 0u);
  CHECK(p.noNewPrivileges);
  CHECK(homeOf(p) == "/");
  CHECK(p.execCandidates.back() == "/bin/sh");
}

TEST_CASE("buildPlan: runc's rootless default spec", "[plan][default-spec][userns]") {
  Bundle b;
  b.config = json::parse(sv::oci::defaultSpecJson(true));
  b.config["process"]["terminal"] = false;
  auto p = b.plan(layoutOf(kPureV2Mountinfo));

  CHECK(p.newUserNs);
  CHECK((p.cloneFlags & CLONE_NEWUSER) != 0);
  CHECK((p.cloneFlags & CLONE_NEWNET) == 0);
  CHECK(p.uidMap == "0 " + std::to_string(::geteuid()) + " 1\n");
  CHECK(p.gidMap == "0 " + std::to_string(::getegid()) + " 1\n");

  const auto& sys = mountAt(p, "/sys");
  CHECK(sys.kind == MountKind::kBind);
  CHECK(sys.source == "/sys");
  CHECK(sys.recursive);
  CHECK(sys.remount);
  CHECK(sys.flags == ul(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
  CHECK(mountAt(p, "/dev/pts").data == "newinstance,ptmxmode=0666,mode=0620");
  CHECK(mountAt(p, "/sys/fs/cgroup").kind == MountKind::kCgroupV2);

  REQUIRE(p.devices.size() == 6);
  for (const auto& d : p.devices) CHECK(d.bindFromHost);
}

// ---------------------------------------------------------------------------------------------
// sysvisor-fs binds

TEST_CASE("fsBindPosition: right after the later of /proc and /sys", "[plan][fs]") {
  auto at = [](std::vector<std::string> destinations) {
    std::vector<PlannedMount> mounts;
    for (auto& d : destinations) {
      PlannedMount m;
      m.destination = d;
      mounts.push_back(m);
    }
    return fsBindPosition(mounts);
  };
  // Docker's order: /proc, /dev, /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue, binds.
  CHECK(at({"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/etc/hosts"}) ==
        4);
  CHECK(at({"/sys", "/dev", "/proc", "/tmp"}) == 3);
  CHECK(at({"/proc", "/tmp"}) == 1);
  // Only the filesystems themselves count, not mounts below them.
  CHECK(at({"/proc", "/sys", "/sys/kernel/debug", "/proc/uptime"}) == 2);
  // Neither: at the end (the files are then skipped when the paths are missing).
  CHECK(at({"/dev", "/tmp"}) == 2);
  CHECK(at({}) == 0);
}

TEST_CASE("buildPlan places the sysvisor-fs binds, which stay off until the runtime asks",
          "[plan][fs]") {
  Bundle b;
  b.config["mounts"] = json::parse(R"json([
    {"destination": "/proc", "type": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
    {"destination": "/sys/kernel/debug", "type": "tmpfs", "source": "tmpfs"}
  ])json");
  auto p = b.plan();
  CHECK_FALSE(p.fsBinds);
  CHECK(p.fsBindsAt == 3);
}

TEST_CASE("planFsBinds: the daemon's paths below its subtree, in its order", "[plan][fs]") {
  auto binds = planFsBinds("/var/lib/sysvisorfs/c1",
                           {"/proc/uptime", "/proc/sys", "/sys/devices/virtual/dmi/id/product_uuid",
                            "/sys/kernel/debug"});
  REQUIRE(binds.size() == 4);
  CHECK(binds[0].source == "/var/lib/sysvisorfs/c1/proc/uptime");
  CHECK(binds[0].destination == "/proc/uptime");
  CHECK(binds[1].source == "/var/lib/sysvisorfs/c1/proc/sys");
  CHECK(binds[1].destination == "/proc/sys");
  CHECK(binds[2].destination == "/sys/devices/virtual/dmi/id/product_uuid");
  CHECK(binds[3].source == "/var/lib/sysvisorfs/c1/sys/kernel/debug");
  // Plain read-write binds with /proc's flags.
  for (const FsBind& f : binds)
    CHECK(f.attrSet == uint64_t{MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC});
  CHECK(planFsBinds("/var/lib/sysvisorfs/c1", {}).empty());
}

TEST_CASE("planFsBinds refuses what the runtime must not mount", "[plan][fs]") {
  for (const char* root : {"", "relative/c1", "/", "/var/lib/sysvisorfs/../c1", "/a//b", "/a/"}) {
    INFO("root \"" << root << "\"");
    CHECK_THAT(errorOf([&] { planFsBinds(root, {"/proc/uptime"}); }),
               Contains("not a clean absolute path"));
  }
  for (const char* path : {"/etc/passwd", "/proc", "/sys", "/proc/", "proc/uptime",
                           "/proc/../etc/shadow", "/proc//uptime", "/proc/./uptime", "/dev/kmsg",
                           "/procfs/x", "/system/x"}) {
    INFO("bind \"" << path << "\"");
    CHECK_THAT(errorOf([&] { planFsBinds("/var/lib/sysvisorfs/c1", {path}); }),
               Contains("only clean paths below /proc and /sys"));
  }
  CHECK_THAT(errorOf([&] { planFsBinds("/r", {"/proc/" + std::string(600, 'x')}); }),
             Contains("only clean paths"));
  CHECK_THAT(errorOf([&] { planFsBinds("/r", {"/proc/uptime", "/proc/stat", "/proc/uptime"}); }),
             Contains("two binds on \"/proc/uptime\""));
}
