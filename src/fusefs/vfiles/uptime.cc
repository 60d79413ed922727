// /proc/uptime of a container: its age and idle time, in the kernel's format.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

// "4099.43" → 409943 hundredths; extra decimals are cut, as the kernel cuts them.
std::optional<uint64_t> hundredths(std::string_view s) {
  auto dot = s.find('.');
  auto whole = text::toU64(s.substr(0, dot));
  if (!whole) return std::nullopt;
  uint64_t frac = 0;
  if (dot != std::string_view::npos) {
    std::string_view digits = s.substr(dot + 1, 2);
    for (size_t i = 0; i < 2; ++i) {
      char c = i < digits.size() ? digits[i] : '0';
      if (c < '0' || c > '9') return std::nullopt;
      frac = frac * 10 + static_cast<uint64_t>(c - '0');
    }
  }
  return *whole * 100 + frac;
}

std::string formatHundredths(uint64_t up, uint64_t idle) {
  return fmt::format("{}.{:02} {}.{:02}\n", up / 100, up % 100, idle / 100, idle % 100);
}

}  // namespace

std::string renderUptime(std::string_view hostUptime, uint64_t containerStartTicks,
                         const CgroupView& cg, std::span<const unsigned> hostCpus) {
  text::Words words(hostUptime);
  auto upWord = words.next(), idleWord = words.next();
  auto hostUp = upWord ? hundredths(*upWord) : std::nullopt;
  auto hostIdle = idleWord ? hundredths(*idleWord) : std::nullopt;
  if (!hostUp) return std::string(hostUptime);
  // USER_HZ ticks are hundredths of a second.
  static_assert(kUserHz == 100);
  uint64_t up = *hostUp - std::min(*hostUp, containerStartTicks);
  uint64_t cpus = std::max<size_t>(1, visibleCpus(cg.cpu, hostCpus).size());
  uint64_t capacity = up * cpus;
  uint64_t idle = 0;
  if (cg.cpu.total) {
    idle = capacity - std::min(capacity, cg.cpu.total->user + cg.cpu.total->system);
  } else if (hostIdle && *hostUp > 0) {
    // The host's idle share over the container's lifetime and CPUs.
    double hostCpuCount = std::max<size_t>(1, hostCpus.size());
    double share = static_cast<double>(*hostIdle) / (static_cast<double>(*hostUp) * hostCpuCount);
    idle = std::min(capacity,
                    static_cast<uint64_t>(std::floor(share * static_cast<double>(capacity))));
  }
  return formatHundredths(up, idle);
}

}  // namespace sv::fs
