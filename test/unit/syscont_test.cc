// The system-container transform (runc::toSystemContainer) on the spec Docker 20.10 sends for
// `docker run --network none debian`, and the same spec after it through the seccomp compiler
// and the launch planner.
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nsutil/plan.h"
#include "nsutil/seccomp.h"
#include "oci/spec.h"
#include "personalities/runc/syscont.h"
#include "personalities/runc/syscont_setup.h"
#include "test_util.h"

using Catch::Matchers::Contains;
using nlohmann::json;
using sv::oci::NsType;
using sv::runc::IdRange;
using sv::runc::SysContError;
using sv::runc::SysContInputs;
using sv::runc::SysContResult;
using sv::runc::toSystemContainer;
using sv::test::TempDir;
namespace sc = sv::ns::seccomp;

namespace {

constexpr IdRange kMgrRange{165536, 165536, 65536};

// What dockerd 20.10 writes for `docker run --network none debian bash` (cgroupfs driver),
// trimmed: Docker's default capabilities, masked and read-only paths, device rules, and its
// default seccomp profile as dockerd resolves it for those capabilities (no CAP_SYS_ADMIN, so
// no mount/unshare/setns rule; clone only without CLONE_NEW* flags; clone3 ENOSYS).
constexpr const char* kDockerSpec = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "user": {"uid": 0, "gid": 0},
    "args": ["bash"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOSTNAME=4f2c1a9e0b7d"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                   "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                   "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
      "effective": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
      "permitted": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
    },
    "apparmorProfile": "docker-default",
    "oomScoreAdj": 0
  },
  "root": {"path": "rootfs"},
  "hostname": "4f2c1a9e0b7d",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["ro", "nosuid", "noexec", "nodev"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    {"destination": "/etc/resolv.conf", "type": "bind",
     "source": "/var/lib/docker/containers/4f2c/resolv.conf", "options": ["rbind", "rprivate"]},
    {"destination": "/etc/hostname", "type": "bind",
     "source": "/var/lib/docker/containers/4f2c/hostname", "options": ["rbind", "rprivate"]},
    {"destination": "/etc/hosts", "type": "bind",
     "source": "/var/lib/docker/containers/4f2c/hosts", "options": ["rbind", "rprivate"]}
  ],
  "linux": {
    "resources": {
      "devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
        {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
      ],
      "blkioWeightDevice": null
    },
    "cgroupsPath": "/docker/4f2c1a9e0b7d",
    "namespaces": [
      {"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}
    ],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "syscalls": [
        {"names": ["accept4", "arch_prctl", "brk", "close", "execve", "exit", "exit_group",
                   "getpid", "getppid", "openat", "read", "write"],
         "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["chroot"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
      ]
    },
    "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
})json";

json dockerJson() {
  return json::parse(kDockerSpec);
}

sv::oci::Spec parse(const json& j) {
  return sv::oci::parseSpec(j.dump());
}

SysContInputs fromMgr() {
  return {kMgrRange};
}

// The message of the SysContError that transforming j throws.
std::string refusal(const json& j, SysContInputs in = fromMgr()) {
  sv::oci::Spec spec = parse(j);
  return sv::test::errorOf<SysContError>([&] { toSystemContainer(spec, in); });
}

// j with linux.uidMappings/gidMappings and a user namespace (Docker's userns-remap).
json remapped(const json& uids, const json& gids) {
  json j = dockerJson();
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  j["linux"]["uidMappings"] = uids;
  j["linux"]["gidMappings"] = gids;
  return j;
}

json mapping(uint32_t container, uint32_t host, uint32_t size) {
  return {{"containerID", container}, {"hostID", host}, {"size", size}};
}

const sv::oci::Namespace* nsOf(const sv::oci::Spec& s, NsType t) {
  for (const auto& n : s.linux->namespaces)
    if (n.type == t) return &n;
  return nullptr;
}

std::vector<int> allCaps() {
  std::vector<int> all;
  for (auto name : sv::oci::capabilityNames()) all.push_back(*sv::oci::capFromName(name));
  return all;
}

std::vector<std::string> destinations(const sv::oci::Spec& s) {
  std::vector<std::string> out;
  for (const auto& m : s.mounts) out.push_back(m.destination);
  return out;
}

const sv::oci::Mount& mountAt(const sv::oci::Spec& s, const std::string& dest) {
  for (const auto& m : s.mounts)
    if (m.destination == dest) return m;
  FAIL("no mount at " << dest);
  throw std::logic_error("unreachable");
}

size_t indexOf(const std::vector<std::string>& v, const std::string& x) {
  auto it = std::find(v.begin(), v.end(), x);
  REQUIRE(it != v.end());
  return static_cast<size_t>(it - v.begin());
}

bool contains(const json& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool anyNoteContains(const SysContResult& r, const std::string& text) {
  return std::any_of(r.notes.begin(), r.notes.end(),
                     [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

// The transformed spec's seccomp rules (a copy) after checking that the text form matches.
json seccompOf(const sv::oci::Spec& s) {
  REQUIRE(json::parse(s.linux->seccompJson) == s.linux->seccomp);
  return s.linux->seccomp;
}

// How often name appears in any rule of profile.
int ruleCount(const json& profile, const std::string& name) {
  int n = 0;
  for (const auto& r : profile["syscalls"]) n += contains(r["names"], name) ? 1 : 0;
  return n;
}

// Docker's --privileged spec: no masked or read-only paths, all devices, all capabilities.
json privilegedJson() {
  json j = dockerJson();
  j["linux"].erase("maskedPaths");
  j["linux"].erase("readonlyPaths");
  j["linux"]["resources"]["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
  json caps = json::array();
  for (auto name : sv::oci::capabilityNames()) caps.push_back(std::string(name));
  for (const char* set : {"bounding", "effective", "permitted"})
    j["process"]["capabilities"][set] = caps;
  j["process"]["apparmorProfile"] = "unconfined";
  j["linux"].erase("seccomp");
  return j;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. user namespace and id mappings

TEST_CASE("a spec without mappings gets a user namespace mapped to mgr's range", "[syscont]") {
  auto spec = parse(dockerJson());
  REQUIRE_FALSE(sv::runc::specHasIdMappings(spec));
  SysContResult r = toSystemContainer(spec, fromMgr());
  CHECK(r.range.uidBase == 165536);
  CHECK(r.range.gidBase == 165536);
  CHECK(r.range.size == 65536);
  const auto* user = nsOf(spec, NsType::kUser);
  REQUIRE(user);
  CHECK(user->path.empty());
  REQUIRE(spec.linux->uidMappings.size() == 1);
  REQUIRE(spec.linux->gidMappings.size() == 1);
  CHECK(spec.linux->uidMappings[0].containerID == 0);
  CHECK(spec.linux->uidMappings[0].hostID == 165536);
  CHECK(spec.linux->uidMappings[0].size == 65536);
  CHECK(spec.linux->gidMappings[0].hostID == 165536);
  CHECK(sv::runc::specHasIdMappings(spec));
}

TEST_CASE("a user namespace without mappings gets mgr's range", "[syscont]") {
  json j = dockerJson();
  j["linux"]["namespaces"].push_back({{"type", "user"}});
  auto spec = parse(j);
  REQUIRE_FALSE(sv::runc::specHasIdMappings(spec));
  SysContResult r = toSystemContainer(spec, fromMgr());
  CHECK(r.range.uidBase == 165536);
  REQUIRE(spec.linux->gidMappings.size() == 1);
  CHECK(spec.linux->gidMappings[0].hostID == 165536);
  CHECK(spec.linux->namespaces.size() == 8);  // Docker's five, and the added user, cgroup, time
  CHECK(nsOf(spec, NsType::kTime));
}

TEST_CASE("without mappings and without a range from mgr the transform refuses", "[syscont]") {
  CHECK_THAT(refusal(dockerJson(), {}), Contains("sysvisor-mgr"));
  CHECK_THAT(refusal(dockerJson(), {IdRange{0, 0, 65536}}), Contains("host root"));
  CHECK_THAT(refusal(dockerJson(), {IdRange{165536, 165536, 1000}}), Contains("65536"));
}

TEST_CASE("userns-remap mappings are kept, merged and give the range", "[syscont]") {
  SECTION("one range, as dockerd writes it") {
    auto spec = parse(remapped(json::array({mapping(0, 100000, 65536)}),
                               json::array({mapping(0, 100000, 65536)})));
    REQUIRE(sv::runc::specHasIdMappings(spec));
    SysContResult r = toSystemContainer(spec, {});
    CHECK(r.range.uidBase == 100000);
    CHECK(r.range.gidBase == 100000);
    CHECK(r.range.size == 65536);
    REQUIRE(spec.linux->uidMappings.size() == 1);
    CHECK(spec.linux->uidMappings[0].hostID == 100000);
    // The spec already had a user namespace: not a second one.
    CHECK(std::count_if(spec.linux->namespaces.begin(), spec.linux->namespaces.end(),
                        [](const auto& n) { return n.type == NsType::kUser; }) == 1);
  }
  SECTION("contiguous pieces in any order become one range") {
    json uids = json::array({mapping(1000, 101000, 99000), mapping(0, 100000, 1000)});
    json gids = json::array({mapping(0, 100000, 70000)});
    auto spec = parse(remapped(uids, gids));
    SysContResult r = toSystemContainer(spec, {});
    REQUIRE(spec.linux->uidMappings.size() == 1);
    CHECK(spec.linux->uidMappings[0].containerID == 0);
    CHECK(spec.linux->uidMappings[0].hostID == 100000);
    CHECK(spec.linux->uidMappings[0].size == 100000);
    CHECK(r.range.uidBase == 100000);
    CHECK(r.range.size == 70000);  // what both maps cover
  }
  SECTION("mgr's range is not used when the spec maps ids") {
    auto spec = parse(remapped(json::array({mapping(0, 100000, 65536)}),
                               json::array({mapping(0, 100000, 65536)})));
    SysContResult r = toSystemContainer(spec, fromMgr());
    CHECK(r.range.uidBase == 100000);
    CHECK(spec.linux->uidMappings[0].hostID == 100000);
    CHECK(anyNoteContains(r, "ignored the id range"));
  }
}

TEST_CASE("invalid spec mappings are refused with what to change", "[syscont]") {
  const json good = json::array({mapping(0, 100000, 65536)});
  struct Case {
    const char* what;
    json uids, gids;
    const char* message;
  };
  const Case cases[] = {
      {"two separate ranges", json::array({mapping(0, 100000, 1000), mapping(1000, 300000, 64536)}),
       good, "one contiguous range"},
      {"container root unmapped", json::array({mapping(1, 100000, 65536)}), good,
       "do not map container uid 0 (root)"},
      {"too small", json::array({mapping(0, 100000, 65535)}), good, "at least 65536"},
      {"root to root", json::array({mapping(0, 0, 65536)}), json::array({mapping(0, 0, 65536)}),
       "host uid 0"},
      {"gid root to root", good, json::array({mapping(0, 0, 65536)}), "host gid 0"},
      {"different bases", good, json::array({mapping(0, 200000, 65536)}),
       "same host base for uids and gids"},
      {"no gid mappings", good, json::array(), "no linux.gidMappings"},
      {"past the last id", json::array({mapping(0, 4294901761u, 65536)}), good,
       "past id 4294967295"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    json j = remapped(c.uids, c.gids);
    if (c.gids.empty()) j["linux"].erase("gidMappings");
    std::string message = refusal(j, {});
    CHECK_THAT(message, Contains(c.message));
    CHECK_THAT(message, Contains("sysvisor-runc: "));
  }
}

TEST_CASE("a refused spec is left as it was", "[syscont]") {
  json j = remapped(json::array({mapping(0, 100000, 1000), mapping(1000, 101000, 1000)}),
                    json::array({mapping(0, 100000, 65536)}));
  auto spec = parse(j);
  CHECK_THROWS_AS(toSystemContainer(spec, {}), SysContError);
  CHECK(spec.linux->uidMappings.size() == 2);  // not merged
  CHECK(spec.process->apparmorProfile == "docker-default");
  CHECK(mountAt(spec, "/sys/fs/cgroup").type == "cgroup");
}

TEST_CASE("joining a user namespace by path needs its mappings", "[syscont]") {
  json j = dockerJson();
  j["linux"]["namespaces"].push_back({{"type", "user"}, {"path", "/proc/4242/ns/user"}});
  CHECK_THAT(refusal(j), Contains("/proc/4242/ns/user"));
  CHECK_THAT(refusal(j), Contains("linux.uidMappings"));

  j["linux"]["uidMappings"] = json::array({mapping(0, 100000, 65536)});
  j["linux"]["gidMappings"] = json::array({mapping(0, 100000, 65536)});
  auto spec = parse(j);
  SysContResult r = toSystemContainer(spec, {});
  CHECK(r.range.uidBase == 100000);
  CHECK(nsOf(spec, NsType::kUser)->path == "/proc/4242/ns/user");
}

// ---------------------------------------------------------------------------------------------
// 2. namespaces and --privileged

TEST_CASE("a cgroup namespace is added", "[syscont]") {
  auto spec = parse(dockerJson());
  REQUIRE_FALSE(nsOf(spec, NsType::kCgroup));
  SysContResult r = toSystemContainer(spec, fromMgr());
  const auto* cg = nsOf(spec, NsType::kCgroup);
  REQUIRE(cg);
  CHECK(cg->path.empty());
  CHECK(anyNoteContains(r, "cgroup namespace"));
  // Docker's five stay as they were.
  for (NsType t : {NsType::kPid, NsType::kNetwork, NsType::kIpc, NsType::kUts, NsType::kMount})
    CHECK(nsOf(spec, t)->path.empty());
}

TEST_CASE("sharing a namespace with the host is refused, naming Docker's flag", "[syscont]") {
  struct Case {
    const char* type;
    const char* message;
  };
  const Case cases[] = {
      {"pid", "need their own pid namespace (--pid=host is not supported)"},
      {"network", "need their own network namespace (--net=host is not supported)"},
      {"ipc", "need their own ipc namespace (--ipc=host is not supported)"},
      {"uts", "need their own uts namespace (--uts=host is not supported)"},
      {"mount", "need their own mount namespace"},
  };
  for (const auto& c : cases) {
    INFO(c.type);
    json j = dockerJson();
    auto& list = j["linux"]["namespaces"];
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const json& n) { return n["type"] == c.type; }),
               list.end());
    if (std::string(c.type) == "uts") j.erase("hostname");  // the parser wants uts for it
    CHECK_THAT(refusal(j), Contains(std::string("sysvisor-runc: system containers ") + c.message));
  }
  json none = dockerJson();
  none.erase("linux");
  none.erase("hostname");
  CHECK_THAT(refusal(none), Contains("own pid namespace"));
}

TEST_CASE("namespaces joined by path are accepted and listed for the host check", "[syscont]") {
  // docker run --net=container:X --pid=container:X
  json j = dockerJson();
  for (auto& n : j["linux"]["namespaces"]) {
    if (n["type"] == "network") n["path"] = "/proc/4242/ns/net";
    if (n["type"] == "pid") n["path"] = "/proc/4242/ns/pid";
  }
  auto spec = parse(j);
  CHECK(sv::runc::namespacesToCheckAgainstHost(spec).size() == 2);
  toSystemContainer(spec, fromMgr());
  auto toCheck = sv::runc::namespacesToCheckAgainstHost(spec);
  REQUIRE(toCheck.size() == 2);
  CHECK(toCheck[0].type == NsType::kNetwork);
  CHECK(toCheck[0].path == "/proc/4242/ns/net");
  CHECK(toCheck[1].type == NsType::kPid);
  CHECK(nsOf(spec, NsType::kNetwork)->path == "/proc/4242/ns/net");
  CHECK(sv::runc::namespacesToCheckAgainstHost(parse(dockerJson())).empty());
}

TEST_CASE("docker --privileged is refused", "[syscont]") {
  CHECK(refusal(privilegedJson()) ==
        "sysvisor-runc: --privileged is not supported: a system container already gets full "
        "capabilities inside its own user namespace; run without --privileged");
}

TEST_CASE("options that make up only part of --privileged are accepted", "[syscont]") {
  SECTION("--security-opt systempaths=unconfined --cap-add ALL") {
    json j = privilegedJson();
    j["linux"]["resources"] = dockerJson()["linux"]["resources"];
    auto spec = parse(j);
    CHECK_NOTHROW(toSystemContainer(spec, fromMgr()));
  }
  SECTION("--device-cgroup-rule 'a *:* rwm' with Docker's paths") {
    json j = privilegedJson();
    j["linux"]["maskedPaths"] = dockerJson()["linux"]["maskedPaths"];
    auto spec = parse(j);
    CHECK_NOTHROW(toSystemContainer(spec, fromMgr()));
  }
  SECTION("everything but CAP_SYS_ADMIN") {
    json j = privilegedJson();
    j["process"]["capabilities"]["bounding"] = dockerJson()["process"]["capabilities"]["bounding"];
    auto spec = parse(j);
    CHECK_NOTHROW(toSystemContainer(spec, fromMgr()));
  }
  SECTION("a device rule limited to one type") {
    json j = privilegedJson();
    j["linux"]["resources"]["devices"][0]["type"] = "c";
    auto spec = parse(j);
    CHECK_NOTHROW(toSystemContainer(spec, fromMgr()));
  }
}

// ---------------------------------------------------------------------------------------------
// 3. capabilities and LSM labels

TEST_CASE("root inside gets every capability except ambient ones", "[syscont]") {
  auto spec = parse(dockerJson());
  toSystemContainer(spec, fromMgr());
  const auto& caps = *spec.process->capabilities;
  const std::vector<int> all = allCaps();
  REQUIRE(all.size() == sv::oci::capabilityNames().size());
  CHECK(caps.bounding == all);
  CHECK(caps.effective == all);
  CHECK(caps.permitted == all);
  CHECK(caps.inheritable.empty());
  CHECK(caps.ambient.empty());
  CHECK(std::find(all.begin(), all.end(), *sv::oci::capFromName("CAP_SYS_ADMIN")) != all.end());
  CHECK(std::find(all.begin(), all.end(), *sv::oci::capFromName("CAP_CHECKPOINT_RESTORE")) !=
        all.end());
}

TEST_CASE("root without a capabilities section gets one", "[syscont]") {
  json j = dockerJson();
  j["process"].erase("capabilities");
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  REQUIRE(spec.process->capabilities);
  CHECK(spec.process->capabilities->effective == allCaps());
}

TEST_CASE("a non-root user keeps the capabilities the spec gives", "[syscont]") {
  // docker run --user 1000: Docker empties effective and permitted for a non-root user.
  json j = dockerJson();
  j["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  j["process"]["capabilities"]["effective"] = json::array();
  j["process"]["capabilities"]["permitted"] = json::array();
  auto spec = parse(j);
  const auto before = *spec.process->capabilities;
  toSystemContainer(spec, fromMgr());
  const auto& caps = *spec.process->capabilities;
  CHECK(caps.effective.empty());
  CHECK(caps.permitted.empty());
  CHECK(caps.inheritable.empty());
  CHECK(caps.bounding == before.bounding);
  CHECK(caps.bounding.size() == 14);
}

TEST_CASE("SYSVISOR_HONOR_CAPS=true keeps root's capabilities as the spec says", "[syscont]") {
  for (const char* value : {"true", "TRUE", "1"}) {
    json j = dockerJson();
    j["process"]["env"].push_back(std::string("SYSVISOR_HONOR_CAPS=") + value);
    j["process"]["capabilities"]["effective"] = json::array({"CAP_NET_ADMIN"});
    auto spec = parse(j);
    toSystemContainer(spec, fromMgr());
    CHECK(spec.process->capabilities->effective.size() == 1);
  }
  json j = dockerJson();
  j["process"]["env"].push_back("SYSVISOR_HONOR_CAPS=false");
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  CHECK(spec.process->capabilities->effective.size() == allCaps().size());
}

TEST_CASE("Docker's ping_group_range is clamped to the mapped groups", "[syscont]") {
  json j = dockerJson();
  j["linux"]["sysctl"] = {{"net.ipv4.ping_group_range", "0 2147483647"},
                          {"net.ipv4.ip_unprivileged_port_start", "0"}};
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  CHECK(spec.linux->sysctl.at("net.ipv4.ping_group_range") == "0 65535");
  CHECK(spec.linux->sysctl.at("net.ipv4.ip_unprivileged_port_start") == "0");
  j["linux"]["sysctl"] = {{"net.ipv4.ping_group_range", "100 200"}};
  auto kept = parse(j);
  toSystemContainer(kept, fromMgr());
  CHECK(kept.linux->sysctl.at("net.ipv4.ping_group_range") == "100 200");
}

TEST_CASE("the AppArmor profile is dropped with a note, the SELinux label kept", "[syscont]") {
  json j = dockerJson();
  j["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0:c1,c2";
  auto spec = parse(j);
  SysContResult r = toSystemContainer(spec, fromMgr());
  CHECK(spec.process->apparmorProfile.empty());
  CHECK(spec.process->selinuxLabel == "system_u:system_r:container_t:s0:c1,c2");
  CHECK(anyNoteContains(r, "apparmor profile \"docker-default\" ignored"));
}

// ---------------------------------------------------------------------------------------------
// 4. seccomp

TEST_CASE("seccomp: Docker's profile allows what a system container needs, first", "[syscont]") {
  auto spec = parse(dockerJson());
  toSystemContainer(spec, fromMgr());
  json prof = seccompOf(spec);
  CHECK(prof["defaultAction"] == "SCMP_ACT_ERRNO");
  const json& first = prof["syscalls"][0];
  CHECK(first["action"] == "SCMP_ACT_ALLOW");
  CHECK_FALSE(first.contains("args"));
  for (auto name : sv::runc::sysContSyscalls()) {
    INFO(name);
    CHECK(contains(first["names"], std::string(name)));
    CHECK(ruleCount(prof, std::string(name)) == 1);
  }
  for (const char* denied : {"clone3", "open_by_handle_at", "syslog"})
    CHECK_FALSE(contains(first["names"], denied));
  // Docker's clone rule (no CLONE_NEW* flags) and its chroot rule are covered by ours and gone;
  // the clone3 ENOSYS rule and the personality rules stay as they were.
  CHECK(prof["syscalls"].size() == 1 + 1 + 2 + 1);
  CHECK(prof["syscalls"][1]["names"].size() == 12);
  CHECK(ruleCount(prof, "personality") == 2);
  CHECK(prof["syscalls"].back() ==
        json::parse(R"({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})"));
  CHECK(prof["architectures"].size() == 3);
}

TEST_CASE("seccomp: the names leave errno rules, argument rules go", "[syscont]") {
  // Podman's profile (resolved for its default capabilities) denies mount & co explicitly,
  // and a hardened profile may deny unshare(CLONE_NEWUSER) by argument.
  json j = dockerJson();
  auto& rules = j["linux"]["seccomp"]["syscalls"];
  rules.push_back(json::parse(R"({"names": ["bdflush", "mount", "umount2", "unshare", "setns",
      "sethostname", "pivot_root", "kexec_load"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1})"));
  rules.push_back(json::parse(R"({"names": ["add_key", "keyctl", "request_key"],
      "action": "SCMP_ACT_ERRNO", "errnoRet": 38})"));
  rules.push_back(json::parse(R"({"names": ["unshare"], "action": "SCMP_ACT_ERRNO",
      "args": [{"index": 0, "value": 268435456, "valueTwo": 268435456,
                "op": "SCMP_CMP_MASKED_EQ"}]})"));
  rules.push_back(json::parse(R"({"names": ["mount"], "action": "SCMP_ACT_KILL"})"));
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  json prof = seccompOf(spec);
  for (const char* name : {"mount", "umount2", "unshare", "setns", "sethostname", "pivot_root",
                           "keyctl", "add_key", "request_key"}) {
    INFO(name);
    CHECK(ruleCount(prof, name) == 1);
    CHECK(contains(prof["syscalls"][0]["names"], name));
  }
  // What else those rules denied is still denied.
  bool found = false;
  for (const auto& r : prof["syscalls"])
    if (r["names"] == json::array({"bdflush", "kexec_load"})) {
      found = true;
      CHECK(r["action"] == "SCMP_ACT_ERRNO");
      CHECK(r["errnoRet"] == 1);
    }
  CHECK(found);
  for (const auto& r : prof["syscalls"]) CHECK_FALSE(r["names"].empty());
}

TEST_CASE("seccomp: with --cap-add SYS_ADMIN only the names we allow leave Docker's rule",
          "[syscont]") {
  json j = dockerJson();
  j["linux"]["seccomp"]["syscalls"].push_back(json::parse(
      R"({"names": ["bpf", "clone", "mount", "name_to_handle_at", "setns", "syslog", "umount2",
          "unshare"], "action": "SCMP_ACT_ALLOW"})"));
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  json prof = seccompOf(spec);
  CHECK(prof["syscalls"].back()["names"] == json::array({"bpf", "syslog"}));
  CHECK(ruleCount(prof, "mount") == 1);
}

TEST_CASE("seccomp: notify, trace and log rules of the caller are kept", "[syscont]") {
  json j = dockerJson();
  j["linux"]["seccomp"]["listenerPath"] = "/run/agent.sock";
  j["linux"]["seccomp"]["syscalls"].push_back(
      json::parse(R"({"names": ["mount", "umount2"], "action": "SCMP_ACT_NOTIFY"})"));
  auto spec = parse(j);
  SysContResult r = toSystemContainer(spec, fromMgr());
  json prof = seccompOf(spec);
  CHECK_FALSE(contains(prof["syscalls"][0]["names"], "mount"));
  CHECK_FALSE(contains(prof["syscalls"][0]["names"], "umount2"));
  CHECK(contains(prof["syscalls"][0]["names"], "unshare"));
  CHECK(prof["syscalls"].back()["action"] == "SCMP_ACT_NOTIFY");
  CHECK(prof["syscalls"].back()["names"].size() == 2);
  CHECK(anyNoteContains(r, "mount, umount2"));
  CHECK_NOTHROW(sc::compileProfile(spec.linux->seccomp));
}

TEST_CASE("seccomp: an allow-all profile only loses its rules against those syscalls",
          "[syscont]") {
  json j = dockerJson();
  j["linux"]["seccomp"] = json::parse(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mount", "kexec_load"], "action": "SCMP_ACT_ERRNO"}]})");
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  json prof = seccompOf(spec);
  REQUIRE(prof["syscalls"].size() == 1);
  CHECK(prof["syscalls"][0]["names"] == json::array({"kexec_load"}));
}

TEST_CASE("seccomp: a spec without a profile stays without one", "[syscont]") {
  json j = dockerJson();
  j["linux"].erase("seccomp");
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  CHECK(spec.linux->seccomp.is_null());
  CHECK(spec.linux->seccompJson.empty());
}

TEST_CASE("seccomp: the rewritten profile compiles and lets the syscalls through", "[syscont][filter]") {
  auto before = parse(dockerJson());
  auto spec = before;
  toSystemContainer(spec, fromMgr());
  const sc::Program original = sc::compileProfile(before.linux->seccomp);
  const sc::Program program = sc::compile(spec.linux->seccompJson);
  REQUIRE_FALSE(program.empty());
  CHECK(sc::compileProfile(spec.linux->seccomp).filter.size() == program.filter.size());

  // A child with no_new_privs loads the program and reports the errno of each syscall: with
  // Docker's profile they fail with its EPERM; with ours the kernel itself answers.
  auto errnos = [](const sc::Program& p) {
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(pipefd[0]);
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || sc::load(p) != 0) ::_exit(1);
      auto err = [](long r) { return static_cast<unsigned char>(r < 0 ? errno : 0); };
      unsigned char out[4] = {
          err(::syscall(SYS_setns, -1, 0)),                  // EBADF
          err(::syscall(SYS_unshare, 0)),                    // 0: nothing to unshare
          err(::syscall(SYS_umount2, nullptr, 0x80000000)),  // EINVAL: unknown flag
          err(::syscall(SYS_open_by_handle_at, -1, nullptr, 0)),  // still EPERM
      };
      ::_exit(::write(pipefd[1], out, sizeof out) == sizeof out ? 0 : 1);
    }
    ::close(pipefd[1]);
    unsigned char in[4] = {};
    ssize_t n = ::read(pipefd[0], in, sizeof in);
    ::close(pipefd[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(n == 4);
    return std::vector<int>(in, in + 4);
  };
  CHECK(errnos(original) == std::vector<int>{EPERM, EPERM, EPERM, EPERM});
  CHECK(errnos(program) == std::vector<int>{EBADF, 0, EINVAL, EPERM});
}

// ---------------------------------------------------------------------------------------------
// 5. mounts, masked and read-only paths

TEST_CASE("mounts: the host's cgroup view is replaced by the container's own", "[syscont]") {
  json j = dockerJson();
  j["mounts"].push_back({{"destination", "/sys/fs/cgroup/memory"},
                         {"type", "bind"},
                         {"source", "/sys/fs/cgroup/memory"},
                         {"options", {"rbind", "ro"}}});
  auto spec = parse(j);
  SysContResult r = toSystemContainer(spec, fromMgr());
  const auto dests = destinations(spec);
  CHECK(std::count(dests.begin(), dests.end(), "/sys/fs/cgroup") == 1);
  CHECK(std::find(dests.begin(), dests.end(), "/sys/fs/cgroup/memory") == dests.end());
  const auto& cg = mountAt(spec, "/sys/fs/cgroup");
  CHECK(cg.type == "cgroup");
  CHECK(cg.options == std::vector<std::string>{"rw", "nosuid", "noexec", "nodev", "relatime"});
  CHECK(indexOf(dests, "/sys") < indexOf(dests, "/sys/fs/cgroup"));
  CHECK(anyNoteContains(r, "/sys/fs/cgroup/memory"));
}

TEST_CASE("mounts: /proc, /sys, /dev and /dev/kmsg of a system container", "[syscont]") {
  auto spec = parse(dockerJson());
  toSystemContainer(spec, fromMgr());
  const auto& proc = mountAt(spec, "/proc");
  CHECK(proc.type == "proc");
  CHECK(proc.options == std::vector<std::string>{"nosuid", "noexec", "nodev"});
  const auto& sys = mountAt(spec, "/sys");
  CHECK(sys.type == "sysfs");
  CHECK(sys.options == std::vector<std::string>{"nosuid", "noexec", "nodev"});  // no "ro"
  const auto& dev = mountAt(spec, "/dev");
  CHECK(dev.type == "tmpfs");
  CHECK(dev.options ==
        std::vector<std::string>{"nosuid", "strictatime", "mode=755", "size=65536k"});
  const auto& kmsg = mountAt(spec, "/dev/kmsg");
  CHECK(kmsg.type == "bind");
  CHECK(kmsg.source == "/dev/null");
  CHECK(kmsg.options == std::vector<std::string>{"bind", "rw"});
  for (const char* d : {"/sys/kernel/debug", "/sys/kernel/tracing"}) {
    INFO(d);
    const auto& m = mountAt(spec, d);
    CHECK(m.type == "tmpfs");
    CHECK(m.options.front() == "ro");
  }
  // Parents are mounted before what lies under them; Docker's own order is kept.
  const auto dests = destinations(spec);
  CHECK(dests == std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/kmsg", "/sys",
                                          "/sys/fs/cgroup", "/sys/kernel/debug",
                                          "/sys/kernel/tracing", "/dev/mqueue", "/dev/shm",
                                          "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"});
}

TEST_CASE("mounts: missing ones are added, a caller's /dev is kept", "[syscont]") {
  json j = dockerJson();
  j["mounts"] = json::parse(R"([
      {"destination": "/dev", "type": "bind", "source": "/srv/dev", "options": ["rbind"]},
      {"destination": "/sys/kernel/security", "type": "securityfs", "source": "securityfs"},
      {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]}])");
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  CHECK(destinations(spec) == std::vector<std::string>{"/dev", "/dev/kmsg", "/sys",
                                                       "/sys/kernel/security", "/sys/fs/cgroup",
                                                       "/sys/kernel/debug", "/sys/kernel/tracing",
                                                       "/data", "/proc"});
  CHECK(mountAt(spec, "/dev").source == "/srv/dev");
}

TEST_CASE("mounts: a caller's /proc or /sys is replaced", "[syscont]") {
  json j = dockerJson();
  j["mounts"][0] = {
      {"destination", "/proc/"}, {"type", "bind"}, {"source", "/proc"}, {"options", {"rbind"}}};
  auto spec = parse(j);
  SysContResult r = toSystemContainer(spec, fromMgr());
  CHECK(spec.mounts[0].destination == "/proc");
  CHECK(spec.mounts[0].type == "proc");
  CHECK(anyNoteContains(r, "replaced the spec's bind mount on /proc"));
}

TEST_CASE("masked and read-only paths lose /proc and /proc/sys only", "[syscont]") {
  json j = dockerJson();
  j["linux"]["maskedPaths"].push_back("/proc/sys/kernel/core_pattern");
  j["linux"]["readonlyPaths"].push_back("/proc");
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());
  CHECK(spec.linux->readonlyPaths ==
        std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"});
  CHECK(spec.linux->maskedPaths ==
        dockerJson()["linux"]["maskedPaths"].get<std::vector<std::string>>());
}

// ---------------------------------------------------------------------------------------------
// The result through the launch planner

TEST_CASE("the transformed Docker spec makes a launch plan", "[syscont]") {
  TempDir bundle;
  std::filesystem::create_directory(bundle.file("rootfs"));
  json j = dockerJson();
  for (auto& m : j["mounts"])
    if (m["type"] == "bind") {
      std::string name = m["destination"].get<std::string>().substr(5);  // "/etc/"
      sv::test::writeFile(bundle.file(name), "x\n");
      m["source"] = bundle.file(name);
    }
  auto spec = parse(j);
  toSystemContainer(spec, fromMgr());

  sv::ns::PlanOptions options;
  options.bundle = bundle.path;
  sv::ns::parseCgroupLayout(
      "25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate\n",
      options);
  const sv::ns::LaunchPlan plan = sv::ns::buildPlan(spec, options);

  const int want = CLONE_NEWUSER | CLONE_NEWCGROUP | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                   CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWTIME;
  CHECK(plan.cloneFlags == want);
  CHECK(plan.newUserNs);
  CHECK(plan.uidMap == "0 165536 65536\n");
  CHECK(plan.gidMap == "0 165536 65536\n");
  CHECK(plan.capEffective == (uint64_t{1} << allCaps().size()) - 1);
  CHECK(plan.capAmbient == 0);
  CHECK(plan.apparmorProfile.empty());
  CHECK(std::find(plan.readonlyPaths.begin(), plan.readonlyPaths.end(), "/proc/sys") ==
        plan.readonlyPaths.end());

  auto at = [&](const std::string& dest) -> const sv::ns::PlannedMount& {
    for (const auto& m : plan.mounts)
      if (m.destination == dest) return m;
    FAIL("no planned mount at " << dest);
    throw std::logic_error("unreachable");
  };
  CHECK(at("/sys/fs/cgroup").kind == sv::ns::MountKind::kCgroupV2);
  CHECK((at("/sys/fs/cgroup").flags & MS_RDONLY) == 0);
  CHECK((at("/sys").flags & MS_RDONLY) == 0);
  CHECK((at("/sys/kernel/debug").flags & MS_RDONLY) != 0);
  const auto& kmsg = at("/dev/kmsg");
  CHECK(kmsg.kind == sv::ns::MountKind::kBind);
  CHECK(kmsg.source == "/dev/null");
  CHECK_FALSE(kmsg.sourceIsDir);
  // In a new user namespace the device nodes are bound from the host.
  REQUIRE_FALSE(plan.devices.empty());
  for (const auto& d : plan.devices) CHECK(d.bindFromHost);

  // sysvisor-fs's files go right after the container's /sys (its /proc comes first), below the
  // mounts on /sys/fs/cgroup and /sys/kernel/{debug,tracing} that follow it.
  REQUIRE(plan.fsBindsAt > 0);
  REQUIRE(plan.fsBindsAt < plan.mounts.size());
  CHECK(plan.mounts[plan.fsBindsAt - 1].destination == "/sys");
  std::vector<std::string> before, after;
  for (size_t i = 0; i < plan.mounts.size(); ++i)
    (i < plan.fsBindsAt ? before : after).push_back(plan.mounts[i].destination);
  CHECK(std::find(before.begin(), before.end(), "/proc") != before.end());
  for (const char* later : {"/sys/fs/cgroup", "/sys/kernel/debug", "/sys/kernel/tracing"})
    CHECK(std::find(after.begin(), after.end(), later) != after.end());
}

TEST_CASE("the host's kernel modules are bound read-only when there", "[syscont]") {
  auto spec = parse(dockerJson());
  SysContInputs in = fromMgr();
  in.modulesDir = "/lib/modules/6.18.0-test";
  toSystemContainer(spec, in);
  auto it = std::find_if(spec.mounts.begin(), spec.mounts.end(), [](const auto& m) {
    return m.destination == "/lib/modules/6.18.0-test";
  });
  REQUIRE(it != spec.mounts.end());
  CHECK(it->source == "/lib/modules/6.18.0-test");
  CHECK(std::find(it->options.begin(), it->options.end(), "ro") != it->options.end());
  // Not without a directory, nor over a mount the spec has there.
  auto none = parse(dockerJson());
  toSystemContainer(none, fromMgr());
  for (const auto& m : none.mounts) CHECK_FALSE(m.destination.starts_with("/lib/modules"));
  auto own = parse(dockerJson());
  sv::oci::Mount mine;
  mine.destination = "/lib/modules";
  mine.type = "tmpfs";
  mine.source = "tmpfs";
  own.mounts.push_back(mine);
  toSystemContainer(own, in);
  CHECK(std::count_if(own.mounts.begin(), own.mounts.end(), [](const auto& m) {
          return m.destination.starts_with("/lib/modules");
        }) == 1);
}

// ---------------------------------------------------------------------------------------------
// systemd as the init

TEST_CASE("systemd: the paths that are systemd's PID 1", "[syscont][systemd]") {
  using sv::runc::isSystemdPath;
  CHECK(isSystemdPath("/lib/systemd/systemd"));
  CHECK(isSystemdPath("/usr/lib/systemd/systemd"));
  CHECK(isSystemdPath("/usr/local/lib/systemd/systemd"));
  CHECK_FALSE(isSystemdPath("/sbin/init"));
  CHECK_FALSE(isSystemdPath("/bin/systemd"));  // not in a systemd directory
  CHECK_FALSE(isSystemdPath("/lib/systemd/systemd-journald"));
  CHECK_FALSE(isSystemdPath("/lib/mysystemd/systemd"));
  CHECK_FALSE(isSystemdPath("systemd"));
  CHECK_FALSE(isSystemdPath(""));
}

TEST_CASE("systemd: /run, /run/lock and container= for a systemd init only", "[syscont][systemd]") {
  auto plain = parse(dockerJson());
  toSystemContainer(plain, fromMgr());
  for (const auto& m : plain.mounts) CHECK_FALSE(m.destination.starts_with("/run"));
  for (const auto& e : plain.process->env) CHECK_FALSE(e.starts_with("container="));

  json j = dockerJson();
  j["process"]["args"] = {"/sbin/init"};
  // A volume under /run: the tmpfs must come before it, or it would hide it.
  j["mounts"].push_back({{"destination", "/run/app"},
                         {"type", "bind"},
                         {"source", "/srv/app"},
                         {"options", {"rbind", "rw"}}});
  auto spec = parse(j);
  SysContInputs in = fromMgr();
  in.systemdInit = true;
  SysContResult r = toSystemContainer(spec, in);
  const auto dests = destinations(spec);
  auto pos = [&](const char* d) { return std::find(dests.begin(), dests.end(), d) - dests.begin(); };
  REQUIRE(pos("/run") < static_cast<long>(dests.size()));
  CHECK(pos("/run") < pos("/run/lock"));
  CHECK(pos("/run") < pos("/run/app"));
  const auto& run = mountAt(spec, "/run");
  CHECK(run.type == "tmpfs");
  CHECK(std::find(run.options.begin(), run.options.end(), "mode=755") != run.options.end());
  const auto& lock = mountAt(spec, "/run/lock");
  CHECK(std::find(lock.options.begin(), lock.options.end(), "mode=1777") != lock.options.end());
  CHECK(std::count(spec.process->env.begin(), spec.process->env.end(),
                   std::string(sv::runc::kContainerEnv)) == 1);
  CHECK(anyNoteContains(r, "container=sysvisor"));

  // The caller's own /run and container= win.
  json own = dockerJson();
  own["process"]["env"].push_back("container=docker");
  own["mounts"].push_back({{"destination", "/run"},
                           {"type", "tmpfs"},
                           {"source", "tmpfs"},
                           {"options", {"size=1m"}}});
  auto spec2 = parse(own);
  toSystemContainer(spec2, in);
  CHECK(mountAt(spec2, "/run").options == std::vector<std::string>{"size=1m"});
  const auto dests2 = destinations(spec2);
  CHECK(std::count(dests2.begin(), dests2.end(), "/run") == 1);
  CHECK(std::count(dests2.begin(), dests2.end(), "/run/lock") == 1);
  int containerVars = 0;
  for (const auto& e : spec2.process->env)
    if (e.starts_with("container=")) {
      ++containerVars;
      CHECK(e == "container=docker");
    }
  CHECK(containerVars == 1);
}

TEST_CASE("systemd: the init is found through symlinks inside the image only",
          "[syscont][systemd]") {
  namespace fs = std::filesystem;
  TempDir root;
  fs::create_directories(root.file("lib/systemd"));
  fs::create_directories(root.file("sbin"));
  fs::create_directories(root.file("usr/bin"));
  { std::ofstream(root.file("lib/systemd/systemd")) << "elf"; }
  { std::ofstream(root.file("usr/bin/bash")) << "elf"; }
  fs::create_symlink("/lib/systemd/systemd", root.file("sbin/init"));
  // Absolute links resolve against the image's root, never the host's.
  fs::create_symlink("/lib/systemd/systemd", root.file("usr/bin/boot"));
  fs::create_symlink("../../../../../../../lib/systemd/systemd", root.file("usr/bin/climb"));
  fs::create_symlink("/usr/bin/bash", root.file("usr/bin/notinit"));

  sv::oci::Process p;
  auto initOf = [&](std::vector<std::string> args) {
    p.args = std::move(args);
    return sv::runc::systemdInitPath(root.path, p);
  };
  CHECK(initOf({"/sbin/init"}) == "/lib/systemd/systemd");
  CHECK(initOf({"/lib/systemd/systemd", "--log-level=debug"}) == "/lib/systemd/systemd");
  CHECK(initOf({"/usr/bin/climb"}) == "/lib/systemd/systemd");
  CHECK(initOf({"/usr/bin/notinit"}).empty());
  CHECK(initOf({"/usr/bin/bash"}).empty());
  CHECK(initOf({"/missing"}).empty());
  CHECK(initOf({"sbin/init"}).empty());  // relative to the cwd: not an init
  CHECK(initOf({}).empty());
  // A bare name goes through the spec's PATH, as the init's exec will.
  p.env = {"PATH=/usr/bin:/sbin"};
  CHECK(initOf({"boot"}) == "/lib/systemd/systemd");
  CHECK(initOf({"init"}) == "/lib/systemd/systemd");
  p.env = {"PATH=/usr/bin"};
  CHECK(initOf({"init"}).empty());
  // A rootfs that does not exist tells nothing.
  p.env.clear();
  p.args = {"/sbin/init"};
  CHECK(sv::runc::systemdInitPath(root.file("nope"), p).empty());
}
