// /proc/loadavg of a container from its own load figures.
#include <fmt/format.h>

#include <cmath>

#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

// Hundredths rounded half up, as the kernel's LOAD_INT/LOAD_FRAC(x + FIXED_1/200) do.
uint64_t hundredths(double load) {
  if (!std::isfinite(load) || load <= 0) return 0;
  return static_cast<uint64_t>(std::floor(load * 100 + 0.5));
}

}  // namespace

std::string renderLoadavg(const LoadAvg& load) {
  uint64_t a = hundredths(load.avg1), b = hundredths(load.avg5), c = hundredths(load.avg15);
  return fmt::format("{}.{:02} {}.{:02} {}.{:02} {}/{} {}\n", a / 100, a % 100, b / 100, b % 100,
                     c / 100, c % 100, load.running, load.total, load.lastPid);
}

}  // namespace sv::fs
