// The block I/O controller: v1 blkio.* (CFQ names, or BFQ's blkio.bfq.* where the kernel
// only has those), v2 io.bfq.weight / io.weight and io.max.
#include <fmt/format.h>

#include <string>

#include "base/sys_error.h"
#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {

std::string device(int64_t major, int64_t minor) {
  return fmt::format("{}:{}", major, minor);
}

struct Throttle {
  std::vector<ThrottleDevice> BlockIoResources::*list;
  const char* v1File;
  const char* v2Key;
  const char* what;
};
constexpr Throttle kThrottles[] = {
    {&BlockIoResources::readBps, "blkio.throttle.read_bps_device", "rbps",
     "blockIO.throttleReadBpsDevice"},
    {&BlockIoResources::writeBps, "blkio.throttle.write_bps_device", "wbps",
     "blockIO.throttleWriteBpsDevice"},
    {&BlockIoResources::readIops, "blkio.throttle.read_iops_device", "riops",
     "blockIO.throttleReadIOPSDevice"},
    {&BlockIoResources::writeIops, "blkio.throttle.write_iops_device", "wiops",
     "blockIO.throttleWriteIOPSDevice"},
};

void applyV1(const BlockIoResources& b, int dirfd) {
  // Kernels without CFQ (5.0+) name BFQ's weights blkio.bfq.*.
  bool cfq = hasKnob(dirfd, "blkio.weight");
  const char* weight = cfq ? "blkio.weight" : "blkio.bfq.weight";
  const char* weightDevice = cfq ? "blkio.weight_device" : "blkio.bfq.weight_device";
  bool wantsWeight = b.weight || std::any_of(b.weightDevices.begin(), b.weightDevices.end(),
                                             [](const WeightDevice& d) { return d.weight; });
  if (wantsWeight && !cfq && !hasKnob(dirfd, weight))
    throw UserError(
        "blockIO.weight needs the cgroup file blkio.weight or blkio.bfq.weight, which this host "
        "does not have (the CFQ or BFQ I/O scheduler)");
  if (b.weight) writeKnob(dirfd, weight, std::to_string(*b.weight), "blockIO.weight");
  if (b.leafWeight)
    writeKnob(dirfd, "blkio.leaf_weight", std::to_string(*b.leafWeight), "blockIO.leafWeight");
  for (const auto& d : b.weightDevices) {
    if (d.weight)
      writeKnob(dirfd, weightDevice, fmt::format("{} {}", device(d.major, d.minor), *d.weight),
                "blockIO.weightDevice");
    if (d.leafWeight)
      writeKnob(dirfd, "blkio.leaf_weight_device",
                fmt::format("{} {}", device(d.major, d.minor), *d.leafWeight),
                "blockIO.weightDevice.leafWeight");
  }
  for (const auto& t : kThrottles)
    for (const auto& d : b.*t.list)
      writeKnob(dirfd, t.v1File, fmt::format("{} {}", device(d.major, d.minor), d.rate), t.what);
}

// v2 has no leaf weights; per-device weights need BFQ's io.bfq.weight (kernel 5.4+), and are
// skipped without it, as runc does.
void applyV2(const BlockIoResources& b, int dirfd) {
  auto bfq = readKnob(dirfd, "io.bfq.weight");
  if (b.weight) {
    if (bfq)
      writeKnob(dirfd, "io.bfq.weight", std::to_string(*b.weight), "blockIO.weight");
    else
      writeKnob(dirfd, "io.weight", std::to_string(blkioToIoWeight(*b.weight)), "blockIO.weight");
  }
  // An old kernel's io.bfq.weight holds a single number; a newer one "default N" and devices.
  bool perDevice = bfq && !parseKnobNumber(*bfq);
  if (perDevice)
    for (const auto& d : b.weightDevices)
      if (d.weight)
        writeKnob(dirfd, "io.bfq.weight", fmt::format("{} {}", device(d.major, d.minor), *d.weight),
                  "blockIO.weightDevice");
  for (const auto& t : kThrottles)
    for (const auto& d : b.*t.list)
      writeKnob(dirfd, "io.max", fmt::format("{} {}={}", device(d.major, d.minor), t.v2Key, d.rate),
                t.what);
}

}  // namespace

void applyBlkio(const Resources& r, int dirfd, bool v2) {
  if (v2)
    applyV2(r.blockIO, dirfd);
  else
    applyV1(r.blockIO, dirfd);
}

}  // namespace sv::cg
