// The config.json that `sysvisor-runc spec` writes: byte for byte what `runc spec` (1.1) writes,
// including the --rootless variant, so tools and tutorials written for runc keep working.
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "oci/spec.h"

namespace sv::oci {
namespace {

// ordered_json keeps keys in the order written here, which is runc's (Go struct) order.
using OrderedJson = nlohmann::ordered_json;

// runc's specconv.Example(). Reformatted on output, so the indentation here does not matter.
constexpr std::string_view kExampleSpec = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [
      {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
})json";

OrderedJson mapCaller(unsigned hostId) {
  return OrderedJson::array({{{"containerID", 0}, {"hostID", hostId}, {"size", 1}}});
}

// runc's specconv.ToRootless(): a user namespace mapping only the caller, no network
// namespace (it could not be set up), /sys bind-mounted (sysfs needs a network namespace of
// its own), no uid=/gid= mount options (those ids are unmapped) and no cgroup limits.
void makeRootless(OrderedJson& spec) {
  OrderedJson& linux = spec["linux"];
  OrderedJson namespaces = OrderedJson::array();
  for (auto& ns : linux["namespaces"]) {
    const auto& type = ns["type"].get_ref<const std::string&>();
    if (type != "network" && type != "user") namespaces.push_back(std::move(ns));
  }
  namespaces.push_back({{"type", "user"}});

  // Mappings come first in runc's output; rebuild the object to keep that order.
  OrderedJson rootlessLinux = {{"uidMappings", mapCaller(::geteuid())},
                               {"gidMappings", mapCaller(::getegid())}};
  for (auto& [key, value] : linux.items()) {
    if (key == "resources") continue;
    rootlessLinux[key] = key == "namespaces" ? std::move(namespaces) : std::move(value);
  }
  linux = std::move(rootlessLinux);

  for (auto& mount : spec["mounts"]) {
    if (mount["destination"] == "/sys") {
      mount = {{"destination", "/sys"},
               {"type", "none"},
               {"source", "/sys"},
               {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
      continue;
    }
    auto options = mount.find("options");
    if (options == mount.end()) continue;
    OrderedJson kept = OrderedJson::array();
    for (auto& option : *options) {
      std::string_view o = option.get_ref<const std::string&>();
      if (!o.starts_with("uid=") && !o.starts_with("gid=")) kept.push_back(std::move(option));
    }
    if (kept.empty()) {
      mount.erase(options);
    } else {
      *options = std::move(kept);
    }
  }
}

}  // namespace

std::string defaultSpecJson(bool rootless) {
  OrderedJson spec = OrderedJson::parse(kExampleSpec);
  if (rootless) makeRootless(spec);
  // Go's json.MarshalIndent(spec, "", "\t"), which runc writes without a final newline.
  return spec.dump(1, '\t');
}

}  // namespace sv::oci
