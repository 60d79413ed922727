// /proc/cpuinfo of a container: only the blocks of the CPUs it is shown, renumbered.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <vector>

#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

// The N of a "processor\t: N" line (x86, arm64, …), else nullopt. s390's "processor N: …"
// lines do not match, so that format passes through as the host's.
std::optional<unsigned> processorNumber(std::string_view line) {
  auto kv = text::splitColon(line);
  if (!kv || kv->key != "processor") return std::nullopt;
  auto n = text::toU64(kv->value);
  if (!n || *n > 65535) return std::nullopt;
  return static_cast<unsigned>(*n);
}

}  // namespace

std::string renderCpuinfo(std::string_view hostCpuinfo, const CgroupView& cg) {
  std::vector<unsigned> hostCpus;
  text::Lines scan(hostCpuinfo);
  while (auto line = scan.next()) {
    if (auto n = processorNumber(*line)) hostCpus.push_back(*n);
  }
  std::vector<unsigned> shown = visibleCpus(cg.cpu, hostCpus);
  std::vector<unsigned> sortedHost = hostCpus;
  std::sort(sortedHost.begin(), sortedHost.end());
  if (shown == sortedHost && std::is_sorted(hostCpus.begin(), hostCpus.end())) {
    return std::string(hostCpuinfo);  // all CPUs, already numbered as the container sees them
  }

  std::string out;
  out.reserve(hostCpuinfo.size());
  bool inBlock = false, printing = false;
  text::Lines lines(hostCpuinfo);
  while (auto line = lines.next()) {
    if (auto n = processorNumber(*line)) {
      auto it = std::find(shown.begin(), shown.end(), *n);
      inBlock = true;
      printing = it != shown.end();
      if (printing)
        fmt::format_to(std::back_inserter(out), "processor\t: {}\n", it - shown.begin());
      continue;
    }
    if (line->empty() && inBlock) {  // a blank line ends the block
      if (printing) out.push_back('\n');
      inBlock = false;
      continue;
    }
    if (!inBlock || printing) out.append(*line).push_back('\n');
  }
  return out;
}

}  // namespace sv::fs
