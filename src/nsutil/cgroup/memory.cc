// The memory controller: limit, reservation, swap, swappiness, OOM killer.
#include <string>

#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {
std::string bytes(int64_t v, bool v2) { return v < 0 ? (v2 ? "max" : "-1") : std::to_string(v); }
}  // namespace

void applyMemory(const Resources& r, int dirfd, bool v2) {
  const MemoryResources& m = r.memory;
  if (v2) {
    if (m.limit) writeKnob(dirfd, "memory.max", bytes(*m.limit, true), "memory.limit");
    if (m.reservation) writeKnob(dirfd, "memory.low", bytes(*m.reservation, true), "memory.reservation");
    // v1's swap is memory+swap; v2's memory.swap.max is swap alone.
    if (m.swap) {
      std::string swap = "max";
      if (*m.swap >= 0) swap = std::to_string(m.limit && *m.limit >= 0 ? *m.swap - *m.limit : *m.swap);
      writeKnob(dirfd, "memory.swap.max", swap, "memory.swap");
    }
    return;
  }
  if (m.limit) writeKnob(dirfd, "memory.limit_in_bytes", bytes(*m.limit, false), "memory.limit");
  if (m.swap) writeKnob(dirfd, "memory.memsw.limit_in_bytes", bytes(*m.swap, false), "memory.swap");
  if (m.reservation)
    writeKnob(dirfd, "memory.soft_limit_in_bytes", bytes(*m.reservation, false), "memory.reservation");
  if (m.swappiness) writeKnob(dirfd, "memory.swappiness", std::to_string(*m.swappiness), "memory.swappiness");
  if (m.disableOOMKiller) writeKnob(dirfd, "memory.oom_control", "1", "memory.disableOOMKiller");
}

}  // namespace sv::cg
