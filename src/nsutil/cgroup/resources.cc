#include "nsutil/cgroup/resources.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/sys_error.h"

namespace sv::cg {

namespace {
using Json = nlohmann::json;

template <typename T>
std::optional<T> number(const Json& obj, const char* key, const char* path) {
  if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
  if (!obj[key].is_number_integer())
    throw UserError(fmt::format("config.json: \"linux.resources.{}.{}\" must be an integer", path, key));
  return obj[key].get<T>();
}
}  // namespace

Resources parseResources(const std::string& text) {
  Resources r;
  if (text.empty()) return r;
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) throw UserError("config.json: \"linux.resources\" must be an object");
  if (j.contains("devices") && j["devices"].is_array())
    for (const auto& d : j["devices"]) r.devices.push_back(parseDeviceRule(d));
  if (j.contains("memory") && j["memory"].is_object()) {
    const Json& m = j["memory"];
    r.memory.limit = number<int64_t>(m, "limit", "memory");
    r.memory.reservation = number<int64_t>(m, "reservation", "memory");
    r.memory.swap = number<int64_t>(m, "swap", "memory");
    r.memory.swappiness = number<uint64_t>(m, "swappiness", "memory");
    r.memory.disableOOMKiller = m.value("disableOOMKiller", false);
    if (r.memory.swappiness && *r.memory.swappiness > 100)
      throw UserError("config.json: \"linux.resources.memory.swappiness\" must be 0..100");
  }
  if (j.contains("cpu") && j["cpu"].is_object()) {
    const Json& c = j["cpu"];
    r.cpu.shares = number<uint64_t>(c, "shares", "cpu");
    r.cpu.quota = number<int64_t>(c, "quota", "cpu");
    r.cpu.period = number<uint64_t>(c, "period", "cpu");
    r.cpu.cpus = c.value("cpus", "");
    r.cpu.mems = c.value("mems", "");
  }
  if (j.contains("pids") && j["pids"].is_object())
    r.pidsLimit = number<int64_t>(j["pids"], "limit", "pids");
  return r;
}

uint64_t sharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

}  // namespace sv::cg

#include <fcntl.h>

#include "base/unique_fd.h"
#include "nsutil/cgroup/cgroup.h"

namespace sv::cg {

void applyResources(const Resources& r, const std::vector<CgroupDir>& dirs) {
  const MemoryResources& m = r.memory;
  struct Controller {
    const char* name;
    bool requested;
    void (*apply)(const Resources&, int, bool);
  };
  const Controller controllers[] = {
      {"memory", m.limit || m.reservation || m.swap || m.swappiness || m.disableOOMKiller,
       applyMemory},
      {"cpu", r.cpu.shares || r.cpu.quota || r.cpu.period, applyCpu},
      {"cpuset", !r.cpu.cpus.empty() || !r.cpu.mems.empty(), applyCpuset},
      {"pids", r.pidsLimit.has_value(), applyPids},
  };
  const CgroupDir* unified = nullptr;
  for (const auto& d : dirs)
    if (d.v2 && d.mountpoint == "/sys/fs/cgroup") unified = &d;
  for (const auto& c : controllers) {
    if (!c.requested) continue;
    const CgroupDir* dir = v1Dir(dirs, c.name);
    bool v2 = dir == nullptr;
    if (v2) dir = unified;
    if (!dir)
      throw UserError(fmt::format("linux.resources asks for the {} controller, which this host "
                                  "has not mounted",
                                  c.name));
    UniqueFd fd(SV_SYSCALL(::open(dir->path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC),
                           "cgroup '{}'", dir->path));
    c.apply(r, fd.get(), v2);
  }
}

}  // namespace sv::cg
