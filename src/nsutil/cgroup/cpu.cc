// The cpu and cpuset controllers: shares/weight, quota, period and burst, realtime runtime
// and period (v1 only), idle, cpus and mems. Writes that depend on each other (period and
// quota, burst and quota, rt period and runtime) follow runc: when the kernel refuses the
// first with EINVAL because the old partner value no longer fits, it is retried after the
// partner.
#include <fmt/format.h>

#include <string>

#include "base/sys_error.h"
#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {

// Writes name, or defers it when the kernel says EINVAL and `partner` is about to change.
// Returns whether it is deferred.
bool writeOrDefer(int dirfd, const char* name, const std::string& value, std::string_view what,
                  bool partner) {
  try {
    writeKnob(dirfd, name, value, what);
    return false;
  } catch (const SysError& e) {
    if (e.err() != EINVAL || !partner) throw;
    return true;
  }
}

void applyShares(int dirfd, uint64_t shares) {
  writeKnob(dirfd, "cpu.shares", std::to_string(shares), "cpu.shares");
  // The kernel clamps out-of-range shares silently; say so instead.
  auto got = readKnobNumber(dirfd, "cpu.shares");
  if (got && *got < shares)
    throw UserError(
        fmt::format("cpu.shares {}: the maximum allowed cpu-shares is {}", shares, *got));
  if (got && *got > shares)
    throw UserError(
        fmt::format("cpu.shares {}: the minimum allowed cpu-shares is {}", shares, *got));
}

void applyRealtime(const CpuResources& c, int dirfd) {
  bool periodLater = false;
  std::string period = c.realtimePeriod ? std::to_string(*c.realtimePeriod) : "";
  if (c.realtimePeriod)
    periodLater = writeOrDefer(dirfd, "cpu.rt_period_us", period, "cpu.realtimePeriod",
                               c.realtimeRuntime.has_value());
  if (c.realtimeRuntime) {
    writeKnob(dirfd, "cpu.rt_runtime_us", std::to_string(*c.realtimeRuntime),
              "cpu.realtimeRuntime");
    if (periodLater) writeKnob(dirfd, "cpu.rt_period_us", period, "cpu.realtimePeriod");
  }
}

void applyV1(const CpuResources& c, int dirfd) {
  if (c.shares) applyShares(dirfd, *c.shares);
  std::string period = c.period ? std::to_string(*c.period) : "";
  std::string burst = c.burst ? std::to_string(*c.burst) : "";
  bool periodLater = c.period && writeOrDefer(dirfd, "cpu.cfs_period_us", period, "cpu.period",
                                              c.quota.has_value());
  bool burstLater =
      c.burst && writeOrDefer(dirfd, "cpu.cfs_burst_us", burst, "cpu.burst", c.quota.has_value());
  if (c.quota) {
    writeKnob(dirfd, "cpu.cfs_quota_us", std::to_string(*c.quota), "cpu.quota");
    if (periodLater) writeKnob(dirfd, "cpu.cfs_period_us", period, "cpu.period");
    if (burstLater) writeKnob(dirfd, "cpu.cfs_burst_us", burst, "cpu.burst");
  }
  if (c.idle) writeKnob(dirfd, "cpu.idle", std::to_string(*c.idle), "cpu.idle");
  applyRealtime(c, dirfd);
}

// cpu.max is "<quota|max> <period>"; an update of one keeps the other as it is.
std::string cpuMax(const CpuResources& c, int dirfd) {
  std::string quota, period;
  if (!c.quota || !c.period) {
    std::string cur = readKnob(dirfd, "cpu.max").value_or("max 100000");
    auto space = cur.find(' ');
    quota = cur.substr(0, space);
    period = space == std::string::npos ? "100000" : cur.substr(space + 1);
    while (!period.empty() && period.back() == '\n') period.pop_back();
  }
  if (c.quota) quota = *c.quota < 0 ? "max" : std::to_string(*c.quota);
  if (c.period) period = std::to_string(*c.period);
  return quota + " " + period;
}

void applyV2(const CpuResources& c, int dirfd) {
  if (c.realtimeRuntime || c.realtimePeriod)
    throw UserError(
        "linux.resources.cpu.realtimeRuntime/realtimePeriod need cgroup v1 (cpu.rt_runtime_us); "
        "cgroup v2 has no realtime group scheduling");
  if (c.idle) writeKnob(dirfd, "cpu.idle", std::to_string(*c.idle), "cpu.idle");
  if (c.shares)
    writeKnob(dirfd, "cpu.weight", std::to_string(sharesToWeight(*c.shares)), "cpu.shares");
  std::string burst = c.burst ? std::to_string(*c.burst) : "";
  bool setMax = c.quota || c.period;
  bool burstLater = c.burst && writeOrDefer(dirfd, "cpu.max.burst", burst, "cpu.burst", setMax);
  if (setMax) {
    writeKnob(dirfd, "cpu.max", cpuMax(c, dirfd), "cpu.quota");
    if (burstLater) writeKnob(dirfd, "cpu.max.burst", burst, "cpu.burst");
  }
}

}  // namespace

void applyCpu(const Resources& r, int dirfd, bool v2) {
  if (v2)
    applyV2(r.cpu, dirfd);
  else
    applyV1(r.cpu, dirfd);
}

void applyCpuset(const Resources& r, int dirfd, bool /*v2: same file names*/) {
  if (!r.cpu.cpus.empty()) writeKnob(dirfd, "cpuset.cpus", r.cpu.cpus, "cpu.cpus");
  if (!r.cpu.mems.empty()) writeKnob(dirfd, "cpuset.mems", r.cpu.mems, "cpu.mems");
}

}  // namespace sv::cg
