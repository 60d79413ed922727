// The pids controller: the container's process limit.
#include <string>

#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

void applyPids(const Resources& r, int dirfd, bool /*v2: same file*/) {
  if (!r.pidsLimit) return;
  writeKnob(dirfd, "pids.max", *r.pidsLimit <= 0 ? "max" : std::to_string(*r.pidsLimit),
            "pids.limit");
}

}  // namespace sv::cg
