// The memory controller: limit, reservation, swap, swappiness, OOM killer. runc's rules:
// v1 orders the limit and memsw writes so an update that raises (or lowers) both never
// passes through an invalid pair; v2 has no swappiness or oom_control (ignored, like runc)
// and counts swap alone.
#include <fmt/format.h>

#include <string>

#include "base/sys_error.h"
#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {

std::string bytes(int64_t v, bool v2) {
  return v < 0 ? (v2 ? "max" : "-1") : std::to_string(v);
}

void writeLimitV1(int dirfd, int64_t limit) {
  try {
    writeKnob(dirfd, "memory.limit_in_bytes", bytes(limit, false), "memory.limit");
  } catch (const SysError& e) {
    if (e.err() != EBUSY) throw;
    // The kernel could not reclaim down to the new limit.
    throw UserError(
        fmt::format("unable to set memory limit to {} (current usage: {}, peak usage: {})", limit,
                    readKnobNumber(dirfd, "memory.usage_in_bytes").value_or(0),
                    readKnobNumber(dirfd, "memory.max_usage_in_bytes").value_or(0)));
  }
}

void writeSwapV1(int dirfd, int64_t swap) {
  writeKnob(dirfd, "memory.memsw.limit_in_bytes", bytes(swap, false), "memory.swap");
}

void applyV1(const MemoryResources& m, int dirfd) {
  std::optional<int64_t> swap = m.swap;
  // Unlimited memory without a word on swap means unlimited memory+swap too.
  if (m.limit == -1 && !swap && hasKnob(dirfd, "memory.memsw.limit_in_bytes")) swap = -1;
  if (m.limit && swap) {
    // memsw must stay >= limit at every step: raise memsw first, lower it last.
    uint64_t cur = readKnobNumber(dirfd, "memory.limit_in_bytes").value_or(0);
    if (*swap == -1 || cur < static_cast<uint64_t>(*swap)) {
      writeSwapV1(dirfd, *swap);
      writeLimitV1(dirfd, *m.limit);
    } else {
      writeLimitV1(dirfd, *m.limit);
      writeSwapV1(dirfd, *swap);
    }
  } else if (m.limit) {
    writeLimitV1(dirfd, *m.limit);
  } else if (swap) {
    writeSwapV1(dirfd, *swap);
  }
  if (m.reservation)
    writeKnob(dirfd, "memory.soft_limit_in_bytes", bytes(*m.reservation, false),
              "memory.reservation");
  if (m.disableOOMKiller) writeKnob(dirfd, "memory.oom_control", "1", "memory.disableOOMKiller");
  if (m.swappiness)
    writeKnob(dirfd, "memory.swappiness", std::to_string(*m.swappiness), "memory.swappiness");
  if (m.kernelTcp)
    writeKnob(dirfd, "memory.kmem.tcp.limit_in_bytes", bytes(*m.kernelTcp, false),
              "memory.kernelTCP");
}

// v1's swap is memory+swap; memory.swap.max is swap alone. nullopt: leave it.
std::optional<std::string> swapV2(const MemoryResources& m, int dirfd) {
  if (m.limit == -1 && !m.swap) return "max";
  if (!m.swap) return std::nullopt;
  if (*m.swap == -1) return "max";
  int64_t limit = m.limit.value_or(0);
  if (!m.limit) {  // an update of swap alone: against the limit in place
    auto cur = readKnobNumber(dirfd, "memory.max");
    if (cur && *cur < static_cast<uint64_t>(INT64_MAX)) limit = static_cast<int64_t>(*cur);
  }
  if (limit <= 0)
    throw UserError("linux.resources.memory.swap needs a memory limit (memory.limit) as well");
  if (*m.swap < limit)
    throw UserError(fmt::format(
        "linux.resources.memory.swap ({}) must be >= memory.limit ({}): it counts memory+swap",
        *m.swap, limit));
  return std::to_string(*m.swap - limit);
}

void applyV2(const MemoryResources& m, int dirfd) {
  if (m.checkBeforeUpdate && m.limit && *m.limit > 0) {
    auto usage = readKnobNumber(dirfd, "memory.current");
    if (usage && *usage >= static_cast<uint64_t>(*m.limit))
      throw UserError(
          fmt::format("rejecting memory limit {} below the current usage {} "
                      "(memory.checkBeforeUpdate)",
                      *m.limit, *usage));
  }
  if (auto swap = swapV2(m, dirfd)) {
    // Without swap accounting there is nothing to disable or lift.
    bool harmless = *swap == "max" || *swap == "0";
    if (!harmless || hasKnob(dirfd, "memory.swap.max"))
      writeKnob(dirfd, "memory.swap.max", *swap, "memory.swap");
  }
  if (m.limit) writeKnob(dirfd, "memory.max", bytes(*m.limit, true), "memory.limit");
  if (m.reservation)
    writeKnob(dirfd, "memory.low", bytes(*m.reservation, true), "memory.reservation");
}

}  // namespace

void applyMemory(const Resources& r, int dirfd, bool v2) {
  if (v2)
    applyV2(r.memory, dirfd);
  else
    applyV1(r.memory, dirfd);
}

}  // namespace sv::cg
