// The rdma controller (v1 and v2 alike): "<device> hca_handle=N hca_object=M" into rdma.max.
#include <fmt/format.h>

#include <string>

#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

void applyRdma(const Resources& r, int dirfd, bool /*v2: same file*/) {
  for (const auto& d : r.rdma) {
    std::string line = d.device;
    if (d.hcaHandles) line += fmt::format(" hca_handle={}", *d.hcaHandles);
    if (d.hcaObjects) line += fmt::format(" hca_object={}", *d.hcaObjects);
    writeKnob(dirfd, "rdma.max", line, fmt::format("rdma.{}", d.device));
  }
}

}  // namespace sv::cg
