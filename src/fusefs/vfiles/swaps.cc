// /proc/swaps of a container: the host's devices, or none when it may not swap.
#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {

std::string renderSwaps(std::string_view hostSwaps, const CgroupView& cg) {
  // The kernel's header, for a host file that could not be read.
  constexpr std::string_view kHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
  bool noSwap = cg.memory && cg.memory->swapLimit == uint64_t{0};
  if (!noSwap) return hostSwaps.empty() ? std::string(kHeader) : std::string(hostSwaps);
  auto header = text::Lines(hostSwaps).next();
  if (!header || !header->starts_with("Filename")) return std::string(kHeader);
  return std::string(*header) + "\n";
}

}  // namespace sv::fs
