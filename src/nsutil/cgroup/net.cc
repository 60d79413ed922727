// net_cls and net_prio (cgroup v1 only): the classid the container's packets carry and
// per-interface priorities. applyResources skips them on hosts without these hierarchies.
#include <fmt/format.h>

#include <string>

#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

void applyNetCls(const Resources& r, int dirfd, bool /*v2: never*/) {
  if (r.network.classId)
    writeKnob(dirfd, "net_cls.classid", std::to_string(*r.network.classId), "network.classID");
}

void applyNetPrio(const Resources& r, int dirfd, bool /*v2: never*/) {
  // One "<interface> <priority>" per write: the kernel parses a single entry.
  for (const auto& p : r.network.priorities)
    writeKnob(dirfd, "net_prio.ifpriomap", fmt::format("{} {}", p.name, p.priority),
              "network.priorities");
}

}  // namespace sv::cg
