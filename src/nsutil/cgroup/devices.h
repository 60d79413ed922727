// The devices controller: which device nodes the container may open or create. v1 writes
// devices.deny/devices.allow; cgroup v2 attaches an eBPF program (devices_bpf.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>


namespace sv::cg {

struct DeviceRule {
  bool allow = false;
  char type = 'a';       // 'a', 'c', 'b'
  int64_t major = -1;    // -1 = any
  int64_t minor = -1;
  std::string access = "rwm";
};

// The spec's rules (linux.resources.devices, see Resources::devices), then runc's default
// allow list, in the order runc applies them. A linux.devices node gets no rule of its own
// (neither runc nor crun adds one): Docker's `--device /dev/x:r` writes the "r" rule into
// linux.resources.devices, and an rwm rule here would make it writable.
std::vector<DeviceRule> deviceRules(std::vector<DeviceRule> specRules);
// The same from the raw linux.resources JSON.
std::vector<DeviceRule> deviceRules(const std::string& resourcesJson);

// One entry of linux.resources.devices; throws UserError for a bad type or access.
DeviceRule parseDeviceRule(const nlohmann::json& entry);

// "c 1:3 rwm", "a *:* rwm"
std::string v1RuleText(const DeviceRule& r);

// Writes the rules into a v1 devices cgroup directory.
void applyDevicesV1(const std::vector<DeviceRule>& rules, const std::string& dir);

struct CgroupDir;
// The rules into the container's v1 devices hierarchy, or, on a host without one, as an eBPF
// program attached to its cgroup2 directory. Nothing without either.
void applyDevices(const std::vector<DeviceRule>& rules, const std::vector<CgroupDir>& dirs);

}  // namespace sv::cg
