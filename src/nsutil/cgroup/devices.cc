#include "nsutil/cgroup/devices.h"

#include <fcntl.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/devices_bpf.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {

// runc's libcontainer/specconv AllowedDevices: mknod of anything, the standard nodes, ptys.
// Plain values (DeviceRule holds a std::string, which clang cannot make constexpr).
struct DefaultRule {
  char type;
  int64_t major, minor;
  const char* access;
};
constexpr DefaultRule kDefaultAllowed[] = {
    {'c', -1, -1, "m"}, {'b', -1, -1, "m"},   {'c', 1, 3, "rwm"},
    {'c', 1, 8, "rwm"}, {'c', 1, 7, "rwm"},   {'c', 5, 0, "rwm"},
    {'c', 1, 5, "rwm"}, {'c', 1, 9, "rwm"},   {'c', 5, 1, "rwm"},
    {'c', 136, -1, "rwm"}, {'c', 5, 2, "rwm"},
};

std::string number(int64_t v) { return v < 0 ? "*" : std::to_string(v); }

}  // namespace

DeviceRule parseDeviceRule(const nlohmann::json& d) {
  if (!d.is_object()) throw UserError("linux.resources.devices entries must be objects");
  DeviceRule r;
  r.allow = d.value("allow", false);
  std::string type = d.value("type", "a");
  if (type != "a" && type != "c" && type != "b")
    throw UserError(fmt::format("linux.resources.devices: invalid type \"{}\"", type));
  r.type = type[0];
  r.major = d.contains("major") && d["major"].is_number() ? d["major"].get<int64_t>() : -1;
  r.minor = d.contains("minor") && d["minor"].is_number() ? d["minor"].get<int64_t>() : -1;
  r.access = d.value("access", "rwm");
  if (r.access.empty() || r.access.find_first_not_of("rwm") != std::string::npos)
    throw UserError(fmt::format("linux.resources.devices: invalid access \"{}\"", r.access));
  return r;
}

std::vector<DeviceRule> deviceRules(std::vector<DeviceRule> specRules) {
  std::vector<DeviceRule> rules = std::move(specRules);
  for (const auto& r : kDefaultAllowed)
    rules.push_back({true, r.type, r.major, r.minor, r.access});
  return rules;
}

std::vector<DeviceRule> deviceRules(const std::string& resourcesJson) {
  return deviceRules(parseResources(resourcesJson).devices);
}

std::string v1RuleText(const DeviceRule& r) {
  if (r.type == 'a') return "a";
  return fmt::format("{} {}:{} {}", r.type, number(r.major), number(r.minor), r.access);
}

void applyDevicesV1(const std::vector<DeviceRule>& rules, const std::string& dir) {
  UniqueFd d(SV_SYSCALL(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "cgroup '{}'", dir));
  for (const auto& r : rules)
    writeFileAt(d.get(), r.allow ? "devices.allow" : "devices.deny", v1RuleText(r));
}

void applyDevices(const std::vector<DeviceRule>& rules, const std::vector<CgroupDir>& dirs) {
  if (const CgroupDir* v1 = v1Dir(dirs, "devices")) return applyDevicesV1(rules, v1->path);
  for (const auto& d : dirs)
    if (d.v2) return applyDevicesBpf(rules, d.path);
}

}  // namespace sv::cg
