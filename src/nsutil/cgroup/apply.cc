// applyResources: which directory each controller of linux.resources goes to (its v1
// hierarchy, else the cgroup2 directory), from one table.
#include <fcntl.h>

#include <fmt/format.h>

#include <optional>
#include <sstream>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {

bool memoryRequested(const Resources& r, bool v2) {
  const MemoryResources& m = r.memory;
  // cgroup v2 has no kernelTCP knob: alone it must not enable the controller there.
  return m.limit || m.reservation || m.swap || m.swappiness || m.disableOOMKiller ||
         (m.kernelTcp && !v2);
}
bool cpuRequested(const Resources& r, bool) {
  const CpuResources& c = r.cpu;
  return c.shares || c.quota || c.period || c.burst || c.realtimeRuntime || c.realtimePeriod ||
         c.idle;
}
bool cpusetRequested(const Resources& r, bool) {
  return !r.cpu.cpus.empty() || !r.cpu.mems.empty();
}
bool pidsRequested(const Resources& r, bool) {
  return r.pidsLimit.has_value();
}
bool blkioRequested(const Resources& r, bool) {
  return r.blockIO.requested();
}
bool hugetlbRequested(const Resources& r, bool) {
  return !r.hugepageLimits.empty();
}
bool netClsRequested(const Resources& r, bool) {
  return r.network.classId.has_value();
}
bool netPrioRequested(const Resources& r, bool) {
  return !r.network.priorities.empty();
}
bool rdmaRequested(const Resources& r, bool) {
  return !r.rdma.empty();
}

struct Controller {
  const char* v1;  // the v1 hierarchy's controller name
  const char* v2;  // the cgroup2 controller name; nullptr: v1 only
  // net_cls and net_prio have no cgroup v2 equivalent: skipped on a pure-v2 host, as runc's
  // fs2 driver does; with v1 hierarchies their absence is an error (runc's fs driver too).
  bool onlyWherePresent;
  bool (*requested)(const Resources&, bool v2);  // v2: for the cgroup2 directory
  void (*apply)(const Resources&, int, bool);
};

// runc's order of subsystems.
constexpr Controller kControllers[] = {
    {"cpuset", "cpuset", false, cpusetRequested, applyCpuset},
    {"memory", "memory", false, memoryRequested, applyMemory},
    {"cpu", "cpu", false, cpuRequested, applyCpu},
    {"pids", "pids", false, pidsRequested, applyPids},
    {"blkio", "io", false, blkioRequested, applyBlkio},
    {"hugetlb", "hugetlb", false, hugetlbRequested, applyHugetlb},
    {"net_cls", nullptr, true, netClsRequested, applyNetCls},
    {"net_prio", nullptr, true, netPrioRequested, applyNetPrio},
    {"rdma", "rdma", false, rdmaRequested, applyRdma},
};

const CgroupDir* v2DirOf(const std::vector<CgroupDir>& dirs) {
  for (const auto& d : dirs)
    if (d.v2) return &d;
  return nullptr;
}

// A host whose only controllers are in cgroup2 (named v1 hierarchies such as name=systemd
// carry none).
bool pureV2(const std::vector<CgroupDir>& dirs) {
  for (const auto& d : dirs)
    if (!d.v2 && !d.controllers.starts_with("name=")) return false;
  return true;
}


void applyTo(const CgroupDir& dir, bool v2, const Resources& r, const Controller* c) {
  UniqueFd fd(SV_SYSCALL(::open(dir.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "cgroup '{}'",
                         dir.path));
  try {
    (c ? c->apply : applyUnified)(r, fd.get(), v2);
  } catch (const UserError&) {
    // A knob missing in cgroup v2 mostly means its controller was not passed down.
    if (!v2 || !c || !c->v2) throw;
    if (listed(readFileIfExists(dir.path + "/cgroup.controllers").value_or(""), c->v2)) throw;
    throw UserError(fmt::format(
        "linux.resources asks for the {} controller, which is not enabled for cgroup '{}' "
        "(its parent's cgroup.subtree_control lacks it; a cgroup with processes of its own "
        "cannot pass controllers on: choose a cgroupsPath below one without processes)",
        c->v2, dir.path));
  }
}

}  // namespace

std::vector<std::string> applyResources(const Resources& r, const std::vector<CgroupDir>& dirs) {
  struct Target {
    const Controller* c;
    const CgroupDir* dir;
    bool v2;
  };
  std::vector<Target> targets;
  std::vector<std::string> enable;  // cgroup2 controllers the targets need
  const CgroupDir* unified = v2DirOf(dirs);
  std::optional<bool> pure;
  std::optional<std::string> offered;  // a hybrid host's cgroup2 controllers, read once
  std::vector<std::string> ignored;
  if (r.memory.kernelTcp && unified && !v1Dir(dirs, "memory"))
    ignored.push_back(
        "linux.resources.memory.kernelTCP is ignored: cgroup v2 has no TCP memory limit "
        "(memory.kmem.tcp.limit_in_bytes is cgroup v1's)");
  for (const auto& c : kControllers) {
    const CgroupDir* dir = v1Dir(dirs, c.v1);
    if (!c.requested(r, !dir && unified)) continue;
    if (dir) {
      targets.push_back({&c, dir, false});
      continue;
    }
    if (c.v2 && unified) {
      if (!pure) pure = pureV2(dirs);
      if (!*pure && !offered)
        offered = readFileIfExists(unified->mountpoint + "/cgroup.controllers").value_or("");
      if (*pure || listed(*offered, c.v2)) {
        targets.push_back({&c, unified, true});
        enable.push_back(c.v2);
        continue;
      }
    }
    if (c.onlyWherePresent) {
      if (!pure) pure = pureV2(dirs);
      if (*pure) continue;
    }
    throw UserError(fmt::format(
        "linux.resources asks for the {} controller, which this host has not mounted", c.v1));
  }
  if (!r.unified.empty()) {
    if (!unified)
      throw UserError(
          "linux.resources.unified needs a cgroup2 hierarchy, which this host has not mounted");
    for (const auto& [key, value] : r.unified) {
      std::string controller = key.substr(0, key.find('.'));
      if (controller != "cgroup") enable.push_back(controller);
    }
  }
  if (!enable.empty()) enableControllers(*unified, enable);
  for (const auto& t : targets) applyTo(*t.dir, t.v2, r, t.c);
  if (!r.unified.empty()) applyTo(*unified, true, r, nullptr);
  return ignored;
}

}  // namespace sv::cg
