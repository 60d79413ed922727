// The cpu and cpuset controllers: shares/weight, quota and period, cpus and mems.
#include <fmt/format.h>

#include <string>

#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

void applyCpu(const Resources& r, int dirfd, bool v2) {
  const CpuResources& c = r.cpu;
  if (v2) {
    if (c.shares) writeKnob(dirfd, "cpu.weight", std::to_string(sharesToWeight(*c.shares)), "cpu.shares");
    if (c.quota || c.period) {
      std::string quota = !c.quota || *c.quota < 0 ? "max" : std::to_string(*c.quota);
      writeKnob(dirfd, "cpu.max", fmt::format("{} {}", quota, c.period.value_or(100000)),
                "cpu.quota");
    }
    return;
  }
  if (c.shares) writeKnob(dirfd, "cpu.shares", std::to_string(*c.shares), "cpu.shares");
  // The period first: a quota is checked against the current period.
  if (c.period) writeKnob(dirfd, "cpu.cfs_period_us", std::to_string(*c.period), "cpu.period");
  if (c.quota) writeKnob(dirfd, "cpu.cfs_quota_us", std::to_string(*c.quota), "cpu.quota");
}

void applyCpuset(const Resources& r, int dirfd, bool /*v2: same file names*/) {
  if (!r.cpu.cpus.empty()) writeKnob(dirfd, "cpuset.cpus", r.cpu.cpus, "cpu.cpus");
  if (!r.cpu.mems.empty()) writeKnob(dirfd, "cpuset.mems", r.cpu.mems, "cpu.mems");
}

}  // namespace sv::cg
