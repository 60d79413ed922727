// oci::parseSpec, the spec tables and defaultSpecJson.
#include <sched.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "oci/spec.h"
#include "test_util.h"

using Catch::Matchers::Contains;
using nlohmann::json;
using sv::oci::NsType;
using sv::oci::parseSpec;
using sv::oci::SpecError;

namespace {

// Every field parseSpec reads, with values that differ from the defaults.
constexpr const char* kFullSpec = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 1000, "gid": 1001, "umask": 18, "additionalGids": [5, 10]},
    "args": ["sh", "-c", "echo hi"],
    "env": ["PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY="],
    "cwd": "/home/user",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_KILL"],
      "inheritable": ["CAP_CHOWN"],
      "permitted": ["CAP_KILL", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"],
      "ambient": ["CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [
      {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
      {"type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 0}
    ],
    "noNewPrivileges": true,
    "apparmorProfile": "sysvisor-default",
    "oomScoreAdj": -500,
    "selinuxLabel": "system_u:system_r:svirt_lxc_net_t:s0:c124,c675"
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "box",
  "domainname": "example.org",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro"]},
    {"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid"]},
    {"destination": "/idmapped", "type": "bind", "source": "/srv/idm", "options": ["bind"],
     "uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
     "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 65536}]}
  ],
  "hooks": {"prestart": [{"path": "/usr/bin/hook", "args": ["hook", "prestart"]}]},
  "annotations": {"org.example.key": "value", "other": ""},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536},
                    {"containerID": 65536, "hostID": 5, "size": 1}],
    "sysctl": {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"},
    "resources": {"devices": [{"allow": false, "access": "rwm"}], "pids": {"limit": 100}},
    "cgroupsPath": "/sysvisor/box",
    "namespaces": [
      {"type": "pid"}, {"type": "network", "path": "/proc/42/ns/net"}, {"type": "ipc"},
      {"type": "uts"}, {"type": "mount"}, {"type": "user"}, {"type": "cgroup"}, {"type": "time"}
    ],
    "timeOffsets": {"monotonic": {"secs": -3600, "nanosecs": 5}, "boottime": {"secs": 86400}},
    "devices": [
      {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438,
       "uid": 0, "gid": 0},
      {"type": "b", "path": "/dev/loop0", "major": 7, "minor": 0},
      {"type": "u", "path": "/dev/null2", "major": 1, "minor": 3},
      {"type": "p", "path": "/dev/fifo"}
    ],
    "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]},
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore", "/sys/firmware"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "system_u:object_r:svirt_sandbox_file_t:s0:c124,c675",
    "personality": {"domain": "LINUX32", "flags": []},
    "intelRdt": {"closID": "ignored"}
  },
  "someFutureKey": {"anything": [1, 2, 3]}
})json";

// The smallest config parseSpec accepts, as a json value tests can break one field of.
json minimal() {
  return json::parse(R"json({
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs"},
    "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"},
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
  })json");
}

sv::oci::Spec parse(const json& j) {
  return parseSpec(j.dump());
}

// The message parseSpec throws for j; fails the test if it does not throw.
std::string errorFor(const std::string& text) {
  INFO("parseSpec input: " << text);
  return sv::test::errorOf<SpecError>([&] { parseSpec(text); });
}
std::string errorFor(const json& j) {
  return errorFor(j.dump());
}

}  // namespace

TEST_CASE("a complete config.json parses into every field", "[oci][parse]") {
  const auto spec = parseSpec(kFullSpec);
  CHECK(spec.ociVersion == "1.0.2-dev");
  CHECK(spec.root.path == "rootfs");
  CHECK(spec.root.readonly);
  CHECK(spec.hostname == "box");
  CHECK(spec.domainname == "example.org");
  CHECK(spec.annotations ==
        std::map<std::string, std::string>{{"org.example.key", "value"}, {"other", ""}});

  REQUIRE(spec.process);
  const auto& p = *spec.process;
  CHECK(p.terminal);
  REQUIRE(p.consoleSize);
  CHECK(p.consoleSize->height == 24);
  CHECK(p.consoleSize->width == 80);
  CHECK(p.user.uid == 1000);
  CHECK(p.user.gid == 1001);
  CHECK(p.user.umask == 18u);
  CHECK(p.user.additionalGids == std::vector<uint32_t>{5, 10});
  CHECK(p.args == std::vector<std::string>{"sh", "-c", "echo hi"});
  CHECK(p.env == std::vector<std::string>{"PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY="});
  CHECK(p.cwd == "/home/user");
  REQUIRE(p.capabilities);
  CHECK(p.capabilities->bounding == std::vector<int>{29, 5, 10});
  CHECK(p.capabilities->effective == std::vector<int>{5});
  CHECK(p.capabilities->inheritable == std::vector<int>{0});
  CHECK(p.capabilities->permitted == std::vector<int>{5, 38, 39, 40});
  CHECK(p.capabilities->ambient == std::vector<int>{10});
  REQUIRE(p.rlimits.size() == 2);
  CHECK(p.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(p.rlimits[0].hard == 4096);
  CHECK(p.rlimits[0].soft == 1024);
  CHECK(p.rlimits[1].resource == RLIMIT_CORE);
  CHECK(p.rlimits[1].hard == UINT64_MAX);
  CHECK(p.rlimits[1].soft == 0);
  CHECK(p.noNewPrivileges);
  CHECK(p.apparmorProfile == "sysvisor-default");
  CHECK(p.oomScoreAdj == -500);
  CHECK(p.selinuxLabel == "system_u:system_r:svirt_lxc_net_t:s0:c124,c675");

  REQUIRE(spec.mounts.size() == 5);
  CHECK(spec.mounts[0].destination == "/proc");
  CHECK(spec.mounts[0].type == "proc");
  CHECK(spec.mounts[0].source == "proc");
  CHECK(spec.mounts[0].options.empty());
  CHECK(spec.mounts[1].type == "tmpfs");
  CHECK(spec.mounts[1].options ==
        std::vector<std::string>{"nosuid", "strictatime", "mode=755", "size=65536k"});
  CHECK(spec.mounts[2].type == "bind");  // no type, rbind option
  CHECK(spec.mounts[2].source == "/srv/data");
  CHECK(spec.mounts[3].type == "bind");  // "none" with rbind
  const auto& idm = spec.mounts[4];
  REQUIRE(idm.uidMappings.size() == 1);
  CHECK(idm.uidMappings[0].containerID == 0);
  CHECK(idm.uidMappings[0].hostID == 200000);
  CHECK(idm.uidMappings[0].size == 65536);
  REQUIRE(idm.gidMappings.size() == 1);
  CHECK(idm.gidMappings[0].hostID == 300000);

  CHECK(json::parse(spec.hooksJson) ==
        json::parse(R"({"prestart": [{"path": "/usr/bin/hook", "args": ["hook", "prestart"]}]})"));

  REQUIRE(spec.linux);
  const auto& l = *spec.linux;
  REQUIRE(l.uidMappings.size() == 1);
  CHECK(l.uidMappings[0].hostID == 100000);
  CHECK(l.uidMappings[0].size == 65536);
  REQUIRE(l.gidMappings.size() == 2);
  CHECK(l.gidMappings[1].containerID == 65536);
  CHECK(l.gidMappings[1].hostID == 5);
  CHECK(l.gidMappings[1].size == 1);
  CHECK(l.sysctl == std::map<std::string, std::string>{{"net.ipv4.ip_forward", "1"},
                                                       {"kernel.msgmax", "8192"}});
  CHECK(json::parse(l.resourcesJson) ==
        json::parse(R"({"devices": [{"allow": false, "access": "rwm"}], "pids": {"limit": 100}})"));
  CHECK(l.cgroupsPath == "/sysvisor/box");
  REQUIRE(l.namespaces.size() == 8);
  const NsType order[] = {NsType::kPid,   NsType::kNetwork, NsType::kIpc,    NsType::kUts,
                          NsType::kMount, NsType::kUser,    NsType::kCgroup, NsType::kTime};
  for (size_t i = 0; i < 8; ++i) CHECK(l.namespaces[i].type == order[i]);
  CHECK(l.namespaces[1].path == "/proc/42/ns/net");
  CHECK(l.namespaces[0].path.empty());
  REQUIRE(l.timeOffsets.size() == 2);
  CHECK(l.timeOffsets.at("monotonic").secs == -3600);
  CHECK(l.timeOffsets.at("monotonic").nanosecs == 5);
  CHECK(l.timeOffsets.at("boottime").secs == 86400);
  CHECK(l.timeOffsets.at("boottime").nanosecs == 0);
  REQUIRE(l.devices.size() == 4);
  CHECK(l.devices[0].type == 'c');
  CHECK(l.devices[0].path == "/dev/fuse");
  CHECK(l.devices[0].major == 10);
  CHECK(l.devices[0].minor == 229);
  CHECK(l.devices[0].fileMode == 0666u);
  CHECK(l.devices[0].uid == 0u);
  CHECK(l.devices[0].gid == 0u);
  CHECK(l.devices[1].type == 'b');
  CHECK(l.devices[1].major == 7);
  CHECK_FALSE(l.devices[1].fileMode);
  CHECK(l.devices[2].type == 'u');
  CHECK(l.devices[3].type == 'p');
  CHECK(json::parse(l.seccompJson)["defaultAction"] == "SCMP_ACT_ERRNO");
  CHECK(json::parse(l.seccompJson)["syscalls"][0]["names"][1] == "write");
  CHECK(l.rootfsPropagation == "rslave");
  CHECK(l.maskedPaths == std::vector<std::string>{"/proc/kcore", "/sys/firmware"});
  CHECK(l.readonlyPaths == std::vector<std::string>{"/proc/sys"});
  CHECK(l.mountLabel == "system_u:object_r:svirt_sandbox_file_t:s0:c124,c675");
  CHECK(l.personalityDomain == static_cast<unsigned long>(PER_LINUX32));
  CHECK(l.personalityFlags.empty());
}

TEST_CASE("optional sections may be missing or null", "[oci][parse]") {
  SECTION("minimal config") {
    const auto spec = parse(minimal());
    CHECK(spec.mounts.empty());
    CHECK(spec.hostname.empty());
    CHECK(spec.hooksJson.empty());
    REQUIRE(spec.process);
    CHECK_FALSE(spec.process->capabilities);
    CHECK_FALSE(spec.process->consoleSize);
    CHECK_FALSE(spec.process->oomScoreAdj);
    REQUIRE(spec.linux);
    CHECK(spec.linux->resourcesJson.empty());
    CHECK_FALSE(spec.linux->personalityDomain);
  }
  SECTION("no process and no linux") {
    auto j = minimal();
    j.erase("process");
    j.erase("linux");
    const auto spec = parse(j);
    CHECK_FALSE(spec.process);
    CHECK_FALSE(spec.linux);
  }
  SECTION("null counts as absent, as in Go") {
    auto j = minimal();
    j["hostname"] = nullptr;
    j["process"]["capabilities"] = nullptr;
    j["linux"]["resources"] = nullptr;
    const auto spec = parse(j);
    CHECK(spec.hostname.empty());
    CHECK_FALSE(spec.process->capabilities);
    CHECK(spec.linux->resourcesJson.empty());
  }
  SECTION("unknown keys are ignored at every level") {
    auto j = minimal();
    j["vm"] = {{"hypervisor", {{"path", "/x"}}}};
    j["process"]["futureField"] = 1;
    j["linux"]["namespaces"][0]["futureField"] = "x";
    CHECK(parse(j).linux->namespaces.size() == 2);
  }
}

TEST_CASE("malformed JSON names the line and column", "[oci][parse][errors]") {
  const auto msg = errorFor(std::string("{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": nope\n}"));
  CHECK_THAT(msg, Contains("config.json is not valid JSON: "));
  CHECK_THAT(msg, Contains("invalid literal"));
  CHECK_THAT(msg, Contains("at line 3, column 12"));  // the 'o' of "nope": "no" cannot be null
  CHECK_THAT(msg, !Contains("[json.exception"));

  // A number out of a double's range is nlohmann's out_of_range, not a parse error (fuzz_spec).
  const auto overflow = errorFor(std::string("{\"ociVersion\": \"1\", \"x\": 1e999}"));
  CHECK_THAT(overflow, Contains("config.json is not valid JSON: number overflow parsing '1e999'"));
  CHECK_THAT(overflow, !Contains("[json.exception"));

  CHECK_THAT(errorFor(std::string("")), Contains("at line 1, column 1"));
  CHECK_THAT(errorFor(std::string("{\"ociVersion\": \"1\"")),
             Contains("unexpected end of input") && Contains("at line 1, column 19"));
  CHECK_THAT(errorFor(std::string("{\n\"a\": 1,\n}")), Contains("at line 3, column 1"));
  CHECK_THAT(errorFor(std::string("{}\n\n  x")), Contains("at line 3, column 3"));
  CHECK_THAT(errorFor(std::string("[1, 2]")),
             Contains("config.json must hold a JSON object, got an array"));
}

TEST_CASE("required top-level fields", "[oci][parse][errors]") {
  auto j = minimal();
  SECTION("ociVersion") {
    j.erase("ociVersion");
    CHECK_THAT(errorFor(j), Contains("config.json: \"ociVersion\" must be a non-empty string"));
    j["ociVersion"] = "";
    CHECK_THAT(errorFor(j), Contains("\"ociVersion\" must be a non-empty string"));
    j["ociVersion"] = 1;
    CHECK_THAT(errorFor(j), Contains("\"ociVersion\" must be a string, got 1"));
  }
  SECTION("root") {
    j.erase("root");
    CHECK_THAT(errorFor(j), Contains("\"root\" must be an object with a non-empty \"path\""));
    j["root"] = {{"path", ""}};
    CHECK_THAT(errorFor(j), Contains("config.json: \"root.path\" must be a non-empty string"));
    j["root"] = {{"readonly", true}};
    CHECK_THAT(errorFor(j), Contains("\"root.path\" must be a non-empty string"));
    j["root"] = "rootfs";
    CHECK_THAT(errorFor(j), Contains("\"root\" must be an object, got a string"));
  }
}

TEST_CASE("process validation", "[oci][parse][errors]") {
  auto j = minimal();
  auto& p = j["process"];
  const std::string argsMsg = "config.json: \"process.args\" must be a non-empty array of strings";
  SECTION("args") {
    p.erase("args");
    CHECK_THAT(errorFor(j), Contains(argsMsg));
    p["args"] = json::array();
    CHECK_THAT(errorFor(j), Contains(argsMsg));
    p["args"] = "sh";
    CHECK_THAT(errorFor(j), Contains(argsMsg));
    p["args"] = {"sh", 1};
    CHECK_THAT(errorFor(j), Contains("\"process.args[1]\" must be a string, got 1"));
    p["args"] = {std::string("a\0b", 3)};
    CHECK_THAT(errorFor(j), Contains("\"process.args[0]\" contains a NUL byte"));
  }
  SECTION("cwd") {
    p["cwd"] = "home";
    CHECK_THAT(errorFor(j), Contains("config.json: \"process.cwd\" must be an absolute path, "
                                     "got \"home\" (did you mean \"/home\"?)"));
    p.erase("cwd");
    CHECK_THAT(errorFor(j), Contains("\"process.cwd\" must be an absolute path"));
  }
  SECTION("env") {
    p["env"] = {"A=1", "NOEQUALS"};
    CHECK_THAT(errorFor(j), Contains("\"process.env[1]\": invalid environment variable "
                                     "\"NOEQUALS\""));
    p["env"] = {"=value"};
    CHECK_THAT(errorFor(j), Contains("invalid environment variable \"=value\""));
  }
  SECTION("scalar types and ranges") {
    p["terminal"] = "yes";
    CHECK_THAT(errorFor(j), Contains("\"process.terminal\" must be true or false, got a string"));
    p.erase("terminal");
    p["user"]["uid"] = -1;
    CHECK_THAT(errorFor(j),
               Contains("\"process.user.uid\" must be an integer from 0 to 4294967295, got -1"));
    p["user"]["uid"] = 4294967296;
    CHECK_THAT(errorFor(j), Contains("\"process.user.uid\" must be an integer"));
    p["user"]["uid"] = 1.5;
    CHECK_THAT(errorFor(j), Contains("\"process.user.uid\" must be an integer"));
    p["user"] = {{"uid", 0}};
    CHECK_THAT(errorFor(j), Contains("\"process.user.gid\" must be an integer"));
    p["user"] = {{"uid", 0}, {"gid", 0}, {"additionalGids", {1, "2"}}};
    CHECK_THAT(errorFor(j), Contains("\"process.user.additionalGids[1]\" must be an integer"));
    p["user"] = {{"uid", 0}, {"gid", 0}};
    p["oomScoreAdj"] = 1001;
    CHECK_THAT(errorFor(j), Contains("\"process.oomScoreAdj\" must be from -1000 to 1000"));
  }
  SECTION("capabilities") {
    p["capabilities"] = {{"bounding", {"CAP_CHOWN", "CAP_FOO"}}};
    CHECK_THAT(errorFor(j), Contains("config.json: unknown capability \"CAP_FOO\" in "
                                     "\"process.capabilities.bounding\""));
    p["capabilities"] = {{"ambient", {"chown"}}};
    CHECK_THAT(errorFor(j), Contains("unknown capability \"chown\" in "
                                     "\"process.capabilities.ambient\""));
    p["capabilities"] = {{"effective", "CAP_CHOWN"}};
    CHECK_THAT(errorFor(j), Contains("\"process.capabilities.effective\" must be an array"));
  }
  SECTION("rlimits") {
    p["rlimits"] = {{{"type", "RLIMIT_X"}, {"hard", 1}, {"soft", 1}}};
    CHECK_THAT(errorFor(j), Contains("\"process.rlimits[0].type\": unknown rlimit \"RLIMIT_X\""));
    p["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"hard", 1}, {"soft", 1}},
                    {{"type", "RLIMIT_NOFILE"}, {"hard", 2}, {"soft", 2}}};
    CHECK_THAT(errorFor(j),
               Contains("\"process.rlimits[1]\": rlimit \"RLIMIT_NOFILE\" listed twice"));
    p["rlimits"] = {{{"type", "RLIMIT_NPROC"}, {"hard", 10}, {"soft", 20}}};
    CHECK_THAT(errorFor(j), Contains("soft limit 20 is above hard limit 10"));
    p["rlimits"] = {{{"type", "RLIMIT_NPROC"}, {"soft", 20}}};
    CHECK_THAT(errorFor(j), Contains("\"process.rlimits[0].hard\" must be an integer"));
    p["rlimits"] = {{{"hard", 1}, {"soft", 1}}};
    CHECK_THAT(errorFor(j), Contains("\"process.rlimits[0].type\" must be an RLIMIT_* name"));
  }
}

TEST_CASE("mount validation", "[oci][parse][errors]") {
  auto j = minimal();
  SECTION("destination must be absolute") {
    j["mounts"] = {{{"destination", "/ok"}, {"type", "tmpfs"}},
                   {{"destination", "proc"}, {"type", "proc"}}};
    CHECK_THAT(errorFor(j), Contains("config.json: \"mounts[1].destination\" must be an absolute "
                                     "path, got \"proc\" (did you mean \"/proc\"?)"));
    j["mounts"] = {{{"type", "proc"}}};
    CHECK_THAT(errorFor(j), Contains("\"mounts[0].destination\" must be an absolute path"));
  }
  SECTION("bind type is filled in only for bind mounts") {
    j["mounts"] = {{{"destination", "/a"}, {"source", "/x"}, {"options", {"ro", "bind"}}},
                   {{"destination", "/b"}, {"source", "/x"}, {"options", {"ro"}}},
                   {{"destination", "/c"}, {"type", "tmpfs"}, {"options", {"rbind"}}}};
    const auto spec = parse(j);
    CHECK(spec.mounts[0].type == "bind");
    CHECK(spec.mounts[1].type.empty());
    CHECK(spec.mounts[2].type == "tmpfs");
  }
  SECTION("id mappings") {
    j["mounts"] = {{{"destination", "/a"},
                    {"options", {"bind"}},
                    {"uidMappings", {{{"containerID", 0}, {"hostID", 1}, {"size", 0}}}}}};
    CHECK_THAT(errorFor(j), Contains("\"mounts[0].uidMappings[0].size\" must be at least 1"));
    j["mounts"][0]["uidMappings"] = {{{"containerID", 0}, {"size", 1}}};
    CHECK_THAT(errorFor(j), Contains("\"mounts[0].uidMappings[0].hostID\" must be an integer"));
  }
}

TEST_CASE("namespace validation", "[oci][parse][errors]") {
  auto j = minimal();
  auto& ns = j["linux"]["namespaces"];
  SECTION("unknown type lists the known ones") {
    ns.push_back({{"type", "foo"}});
    CHECK_THAT(errorFor(j), Contains("config.json: \"linux.namespaces[2].type\": unknown "
                                     "namespace type \"foo\" (known: pid, network, mount, ipc, "
                                     "uts, user, cgroup, time)"));
  }
  SECTION("duplicates") {
    ns.push_back({{"type", "pid"}, {"path", "/proc/1/ns/pid"}});
    CHECK_THAT(errorFor(j), Contains("\"linux.namespaces[2]\": namespace \"pid\" listed twice"));
  }
  SECTION("missing type and relative path") {
    ns.push_back({{"path", "/proc/1/ns/net"}});
    CHECK_THAT(errorFor(j), Contains("\"linux.namespaces[2].type\" must be a namespace type"));
    ns[2] = {{"type", "network"}, {"path", "proc/1/ns/net"}};
    CHECK_THAT(errorFor(j), Contains("\"linux.namespaces[2].path\" must be an absolute path"));
  }
  SECTION("id mappings need a user namespace") {
    j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
    CHECK_THAT(errorFor(j), Contains("there is no user namespace") &&
                                Contains("add {\"type\": \"user\"} to \"linux.namespaces\""));
    j["linux"].erase("uidMappings");
    j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
    CHECK_THAT(errorFor(j), Contains("there is no user namespace"));
    ns.push_back({{"type", "user"}});
    CHECK(parse(j).linux->gidMappings.size() == 1);
  }
  SECTION("a new user namespace without mappings is accepted") {
    ns.push_back({{"type", "user"}});
    CHECK(parse(j).linux->namespaces.back().type == NsType::kUser);
  }
  SECTION("hostname and domainname need a UTS namespace") {
    j["hostname"] = "box";
    CHECK_THAT(errorFor(j),
               Contains("config.json: unable to set hostname without a private UTS namespace"));
    j.erase("hostname");
    j["domainname"] = "example.org";
    CHECK_THAT(errorFor(j), Contains("unable to set domainname without a private UTS namespace"));
    ns.push_back({{"type", "uts"}});
    j["hostname"] = "box";
    CHECK(parse(j).hostname == "box");
  }
  SECTION("hostname without any linux section") {
    j.erase("linux");
    j["hostname"] = "box";
    CHECK_THAT(errorFor(j), Contains("without a private UTS namespace"));
  }
}

TEST_CASE("linux section validation", "[oci][parse][errors]") {
  auto j = minimal();
  auto& l = j["linux"];
  SECTION("sysctl keys") {
    for (const char* bad : {"", "net..ipv4", "../x", "a/b", ".net", "net.", "net/../../etc"}) {
      l["sysctl"] = {{bad, "1"}};
      CHECK_THAT(errorFor(j), Contains("\"linux.sysctl\": invalid key"));
    }
    l["sysctl"] = {{"net.core.somaxconn", 1}};
    CHECK_THAT(errorFor(j), Contains("\"linux.sysctl.net.core.somaxconn\" must be a string"));
    l["sysctl"] = {{"net.core.somaxconn", "1024"}, {"kernel.shmmax", "1"}};
    CHECK(parse(j).linux->sysctl.at("net.core.somaxconn") == "1024");
  }
  SECTION("devices") {
    l["devices"] = {{{"type", "x"}, {"path", "/dev/x"}, {"major", 1}, {"minor", 1}}};
    CHECK_THAT(errorFor(j), Contains("\"linux.devices[0].type\": unknown device type \"x\""));
    l["devices"] = {{{"type", "cc"}, {"path", "/dev/x"}, {"major", 1}, {"minor", 1}}};
    CHECK_THAT(errorFor(j), Contains("unknown device type \"cc\""));
    l["devices"] = {{{"type", "c"}, {"path", "dev/x"}, {"major", 1}, {"minor", 1}}};
    CHECK_THAT(errorFor(j), Contains("\"linux.devices[0].path\" must be an absolute path"));
    l["devices"] = {{{"type", "c"}, {"path", "/dev/x"}, {"major", 1}}};
    CHECK_THAT(errorFor(j), Contains("needs \"major\" and \"minor\""));
    l["devices"] = {{{"path", "/dev/x"}, {"major", 1}, {"minor", 1}}};
    CHECK_THAT(errorFor(j), Contains("\"linux.devices[0].type\" must be a device type"));
    l["devices"] = {{{"type", "p"}, {"path", "/dev/fifo"}}};
    CHECK(parse(j).linux->devices.at(0).type == 'p');
  }
  SECTION("personality") {
    l["personality"] = {{"domain", "LINUX"}};
    CHECK(parse(j).linux->personalityDomain == static_cast<unsigned long>(PER_LINUX));
    l["personality"] = {{"domain", "LINUX64"}};
    CHECK_THAT(errorFor(j), Contains("\"linux.personality.domain\": unknown personality domain "
                                     "\"LINUX64\""));
    l["personality"] = {{"flags", json::array()}};
    CHECK_THAT(errorFor(j), Contains("\"linux.personality.domain\" must be"));
  }
  SECTION("time offsets") {
    l["namespaces"].push_back({{"type", "time"}});
    l["timeOffsets"] = {{"realtime", {{"secs", 1}}}};
    CHECK_THAT(errorFor(j), Contains("\"linux.timeOffsets\": unknown clock \"realtime\""));
    l["timeOffsets"] = {{"boottime", {{"nanosecs", 1000000000}}}};
    CHECK_THAT(errorFor(j),
               Contains("\"linux.timeOffsets.boottime.nanosecs\" must be below 1000000000"));
    l["timeOffsets"] = {{"boottime", {{"secs", 10}}}};
    CHECK(parse(j).linux->timeOffsets.at("boottime").secs == 10);
    l["namespaces"].erase(2);
    CHECK_THAT(errorFor(j), Contains("\"linux.timeOffsets\" is set but there is no time "
                                     "namespace"));
  }
  SECTION("propagation and paths") {
    l["rootfsPropagation"] = "everywhere";
    CHECK_THAT(errorFor(j), Contains("unknown propagation \"everywhere\""));
    l["rootfsPropagation"] = "private";
    l["maskedPaths"] = {"/proc/kcore", "proc/keys"};
    CHECK_THAT(errorFor(j), Contains("\"linux.maskedPaths[1]\" must be an absolute path"));
  }
  SECTION("raw sections must be objects") {
    l["resources"] = json::array();
    CHECK_THAT(errorFor(j), Contains("\"linux.resources\" must be an object, got an array"));
    l.erase("resources");
    j["hooks"] = "none";
    CHECK_THAT(errorFor(j), Contains("\"hooks\" must be an object, got a string"));
  }
}

TEST_CASE("namespace table", "[oci][tables]") {
  struct Row {
    const char* name;
    NsType type;
    const char* proc;
    int flag;
  };
  const Row rows[] = {
      {"pid", NsType::kPid, "pid", CLONE_NEWPID},
      {"network", NsType::kNetwork, "net", CLONE_NEWNET},
      {"mount", NsType::kMount, "mnt", CLONE_NEWNS},
      {"ipc", NsType::kIpc, "ipc", CLONE_NEWIPC},
      {"uts", NsType::kUts, "uts", CLONE_NEWUTS},
      {"user", NsType::kUser, "user", CLONE_NEWUSER},
      {"cgroup", NsType::kCgroup, "cgroup", CLONE_NEWCGROUP},
      {"time", NsType::kTime, "time", CLONE_NEWTIME},
  };
  for (const auto& r : rows) {
    CHECK(sv::oci::nsTypeFromName(r.name) == r.type);
    CHECK(std::string(sv::oci::nsName(r.type)) == r.name);
    CHECK(std::string(sv::oci::nsProcName(r.type)) == r.proc);
    CHECK(sv::oci::nsCloneFlag(r.type) == r.flag);
  }
  CHECK_FALSE(sv::oci::nsTypeFromName("net"));
  CHECK_FALSE(sv::oci::nsTypeFromName("PID"));
  CHECK_FALSE(sv::oci::nsTypeFromName(""));
}

TEST_CASE("capability and rlimit tables", "[oci][tables]") {
  CHECK(sv::oci::capFromName("CAP_CHOWN") == 0);
  CHECK(sv::oci::capFromName("CAP_SYS_ADMIN") == 21);
  CHECK(sv::oci::capFromName("CAP_AUDIT_READ") == 37);
  CHECK(sv::oci::capFromName("CAP_PERFMON") == 38);
  CHECK(sv::oci::capFromName("CAP_BPF") == 39);
  CHECK(sv::oci::capFromName("CAP_CHECKPOINT_RESTORE") == 40);
  CHECK_FALSE(sv::oci::capFromName("CHOWN"));
  CHECK_FALSE(sv::oci::capFromName("cap_chown"));
  CHECK_FALSE(sv::oci::capFromName("CAP_FOO"));

  const std::pair<const char*, int> rlimits[] = {
      {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
      {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
  };
  for (const auto& [name, value] : rlimits) CHECK(sv::oci::rlimitFromName(name) == value);
  CHECK(sv::oci::rlimitFromName("RLIMIT_NOFILE") == 7);
  CHECK_FALSE(sv::oci::rlimitFromName("NOFILE"));
  CHECK_FALSE(sv::oci::rlimitFromName("RLIMIT_X"));
}

TEST_CASE("the default spec is runc's", "[oci][default]") {
  const std::string text = sv::oci::defaultSpecJson(false);
  // Go's MarshalIndent with tabs, no trailing newline.
  CHECK(
      text.starts_with("{\n\t\"ociVersion\": \"1.0.2-dev\",\n\t\"process\": {\n\t\t\"terminal\": "
                       "true,\n\t\t\"user\": {\n\t\t\t\"uid\": 0,\n\t\t\t\"gid\": 0\n\t\t},\n"));
  CHECK(text.ends_with("\t\t\t\"/proc/sysrq-trigger\"\n\t\t]\n\t}\n}"));
  CHECK_THAT(text,
             Contains("\t\t\t\t\"ptmxmode=0666\",\n\t\t\t\t\"mode=0620\",\n\t\t\t\t\"gid=5\"\n"));

  const auto spec = parseSpec(text);
  CHECK(spec.ociVersion == "1.0.2-dev");
  CHECK(spec.root.path == "rootfs");
  CHECK(spec.root.readonly);
  CHECK(spec.hostname == "runc");
  REQUIRE(spec.process);
  CHECK(spec.process->terminal);
  CHECK(spec.process->args == std::vector<std::string>{"sh"});
  CHECK(spec.process->cwd == "/");
  CHECK(spec.process->noNewPrivileges);
  REQUIRE(spec.process->capabilities);
  CHECK(spec.process->capabilities->bounding == std::vector<int>{29, 5, 10});
  CHECK(spec.process->capabilities->ambient == std::vector<int>{29, 5, 10});
  REQUIRE(spec.process->rlimits.size() == 1);
  CHECK(spec.process->rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(spec.process->rlimits[0].hard == 1024);
  REQUIRE(spec.mounts.size() == 7);
  CHECK(spec.mounts[5].destination == "/sys");
  CHECK(spec.mounts[5].type == "sysfs");
  CHECK(spec.mounts[6].destination == "/sys/fs/cgroup");
  REQUIRE(spec.linux);
  CHECK(json::parse(spec.linux->resourcesJson) ==
        json::parse(R"({"devices": [{"allow": false, "access": "rwm"}]})"));
  REQUIRE(spec.linux->namespaces.size() == 5);
  CHECK(spec.linux->namespaces[1].type == NsType::kNetwork);
  CHECK(spec.linux->uidMappings.empty());
  CHECK(spec.linux->maskedPaths.size() == 10);
  CHECK(spec.linux->readonlyPaths.size() == 5);
}

TEST_CASE("the rootless default spec is runc's rootless variant", "[oci][default]") {
  const std::string text = sv::oci::defaultSpecJson(true);
  CHECK(text.starts_with("{\n\t\"ociVersion\": \"1.0.2-dev\",\n"));
  CHECK_THAT(text, Contains("\t\"linux\": {\n\t\t\"uidMappings\": [\n\t\t\t{\n\t\t\t\t"
                            "\"containerID\": 0,\n\t\t\t\t\"hostID\": "));
  CHECK_THAT(text, !Contains("gid=5"));
  CHECK_THAT(text, !Contains("resources"));

  const auto spec = parseSpec(text);
  REQUIRE(spec.linux);
  const auto& l = *spec.linux;
  REQUIRE(l.uidMappings.size() == 1);
  CHECK(l.uidMappings[0].containerID == 0);
  CHECK(l.uidMappings[0].hostID == ::geteuid());
  CHECK(l.uidMappings[0].size == 1);
  REQUIRE(l.gidMappings.size() == 1);
  CHECK(l.gidMappings[0].hostID == ::getegid());
  CHECK(l.resourcesJson.empty());
  REQUIRE(l.namespaces.size() == 5);
  const NsType order[] = {NsType::kPid, NsType::kIpc, NsType::kUts, NsType::kMount, NsType::kUser};
  for (size_t i = 0; i < 5; ++i) CHECK(l.namespaces[i].type == order[i]);
  REQUIRE(spec.mounts.size() == 7);
  CHECK(spec.mounts[2].options ==
        std::vector<std::string>{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"});
  CHECK(spec.mounts[5].destination == "/sys");
  CHECK(spec.mounts[5].source == "/sys");
  CHECK(spec.mounts[5].type == "bind");  // "none" + rbind, normalized by parseSpec
  CHECK(spec.mounts[5].options ==
        std::vector<std::string>{"rbind", "nosuid", "noexec", "nodev", "ro"});
  CHECK(spec.hostname == "runc");
  CHECK(spec.process->args == std::vector<std::string>{"sh"});
}

namespace {

// Runs `runc spec` (if a runc 1.1 is installed) and returns the config.json it wrote.
std::optional<std::string> runcSpec(bool rootless) {
  if (std::system("runc --version 2>/dev/null | grep -q '^spec: 1.0.2-dev$'") != 0) {
    return std::nullopt;
  }
  char dir[] = "/tmp/sv-oci-test-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return std::nullopt;
  const std::string cmd =
      std::string("runc spec --bundle ") + dir + (rootless ? " --rootless" : "") + " 2>/dev/null";
  std::optional<std::string> text;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream in(std::string(dir) + "/config.json", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::filesystem::remove_all(dir);
  return text;
}

}  // namespace

TEST_CASE("defaultSpecJson matches the installed runc 1.1 byte for byte", "[oci][default][runc]") {
  for (bool rootless : {false, true}) {
    const auto expected = runcSpec(rootless);
    if (!expected) {
      WARN("runc 1.1 not installed; skipped the byte-for-byte comparison");
      return;
    }
    INFO("rootless: " << rootless);
    CHECK(sv::oci::defaultSpecJson(rootless) == *expected);
  }
}

TEST_CASE("linux.resources, linux.seccomp and hooks are kept parsed and as text", "[oci][parse]") {
  const auto spec = parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
      "hooks":{"poststop":[{"path":"/bin/true"}]},
      "linux":{"resources":{"pids":{"limit":5}},"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}})");
  CHECK(spec.hooks == json::parse(R"({"poststop":[{"path":"/bin/true"}]})"));
  CHECK(json::parse(spec.hooksJson) == spec.hooks);
  REQUIRE(spec.linux);
  CHECK(spec.linux->resources == json::parse(R"({"pids":{"limit":5}})"));
  CHECK(json::parse(spec.linux->resourcesJson) == spec.linux->resources);
  CHECK(spec.linux->seccomp == json::parse(R"({"defaultAction":"SCMP_ACT_ALLOW"})"));
  CHECK(json::parse(spec.linux->seccompJson) == spec.linux->seccomp);

  const auto none = parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},
      "hooks":null,"linux":{"seccomp":null}})");
  CHECK(none.hooks.is_null());
  CHECK(none.hooksJson.empty());
  REQUIRE(none.linux);
  CHECK(none.linux->resources.is_null());
  CHECK(none.linux->seccomp.is_null());
  CHECK(none.linux->seccompJson.empty());
}
