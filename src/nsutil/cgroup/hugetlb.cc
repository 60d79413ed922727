// The hugetlb controller: a limit per huge page size (v1 hugetlb.<size>.limit_in_bytes, v2
// hugetlb.<size>.max), and the same on the reservation counters (.rsvd.) where the kernel
// has them (5.7+), as runc does, so a reservation cannot outgrow the limit either.
#include <fmt/format.h>

#include <string>

#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

void applyHugetlb(const Resources& r, int dirfd, bool v2) {
  const char* suffix = v2 ? "max" : "limit_in_bytes";
  bool rsvd = true;
  for (const auto& h : r.hugepageLimits) {
    std::string value = std::to_string(h.limit);
    std::string what = fmt::format("hugepageLimits pageSize {}", h.pageSize);
    writeKnob(dirfd, fmt::format("hugetlb.{}.{}", h.pageSize, suffix).c_str(), value, what);
    std::string reserved = fmt::format("hugetlb.{}.rsvd.{}", h.pageSize, suffix);
    if (rsvd && hasKnob(dirfd, reserved.c_str()))
      writeKnob(dirfd, reserved.c_str(), value, what);
    else
      rsvd = false;
  }
}

// The kernel's name for a huge page size (mm/hugetlb_cgroup.c mem_fmt): "2MB", "1GB", "64KB".
std::string hugePageSizeName(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{}GB", bytes >> 30);
  if (bytes >= (1ull << 20)) return fmt::format("{}MB", bytes >> 20);
  return fmt::format("{}KB", bytes >> 10);
}

}  // namespace sv::cg
