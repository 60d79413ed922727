// /proc/meminfo of a container: see vfiles.h for the arithmetic.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

// A line the container sees differently from the host, in kB.
struct Override {
  std::string_view key;
  uint64_t kb;
};

using Overrides = std::vector<Override>;

struct HostFigures {
  std::optional<uint64_t> memTotal, swapTotal, swapFree, mlocked;
};

HostFigures hostFigures(std::string_view meminfo) {
  HostFigures h;
  text::Lines lines(meminfo);
  while (auto line = lines.next()) {
    auto kv = text::splitColon(*line);
    if (!kv) continue;
    if (kv->key == "MemTotal") h.memTotal = text::leadingU64(kv->value);
    if (kv->key == "SwapTotal") h.swapTotal = text::leadingU64(kv->value);
    if (kv->key == "SwapFree") h.swapFree = text::leadingU64(kv->value);
    if (kv->key == "Mlocked") h.mlocked = text::leadingU64(kv->value);
  }
  return h;
}

constexpr uint64_t kb(uint64_t bytes) {
  return bytes / 1024;
}

Overrides memoryLines(const MemoryView& m, const HostFigures& host) {
  const MemoryStat& s = m.stat;
  uint64_t total = std::min(kb(*m.limit), *host.memTotal);
  uint64_t used = std::min(kb(m.usage), total);
  uint64_t free = total - used;
  // Clamped so that free + cached + reclaimable slab never exceeds total: `free` computes
  // "used" as total - free - buffers - cache and must not go negative.
  uint64_t cached = std::min(kb(s.file), used);
  uint64_t slabReclaimable = std::min(kb(s.slabReclaimable.value_or(0)), used - cached);
  uint64_t slabUnreclaimable = kb(s.slabUnreclaimable.value_or(0));
  uint64_t fileLru = std::min(kb(s.activeFile + s.inactiveFile), cached);
  uint64_t available = std::min(total, free + fileLru + slabReclaimable);
  uint64_t unevictable = kb(s.unevictable);
  Overrides out = {
      {"MemTotal", total},
      {"MemFree", free},
      {"MemAvailable", available},
      {"Buffers", 0},  // a cgroup does not count buffers apart from its page cache
      {"Cached", cached},
      {"SwapCached", 0},
      {"Active", kb(s.activeAnon + s.activeFile)},
      {"Inactive", kb(s.inactiveAnon + s.inactiveFile)},
      {"Active(anon)", kb(s.activeAnon)},
      {"Inactive(anon)", kb(s.inactiveAnon)},
      {"Active(file)", kb(s.activeFile)},
      {"Inactive(file)", kb(s.inactiveFile)},
      {"Unevictable", unevictable},
      // Locked pages sit on the unevictable list; the host's count may include other cgroups'.
      {"Mlocked", std::min(host.mlocked.value_or(0), unevictable)},
      {"Dirty", kb(s.fileDirty)},
      {"Writeback", kb(s.fileWriteback)},
      {"AnonPages", kb(s.anon)},
      {"Mapped", kb(s.fileMapped)},
      {"Shmem", kb(s.shmem)},
      {"KReclaimable", slabReclaimable},
      {"Slab", slabReclaimable + slabUnreclaimable},
      {"SReclaimable", slabReclaimable},
      {"SUnreclaim", slabUnreclaimable},
      {"AnonHugePages", kb(s.anonThp)},
      {"ShmemHugePages", 0},
      {"ShmemPmdMapped", 0},
  };
  // v1 has no such figures: keep the host's lines rather than invent zeros.
  if (s.kernelStack) out.push_back({"KernelStack", kb(*s.kernelStack)});
  if (s.pageTables) out.push_back({"PageTables", kb(*s.pageTables)});
  return out;
}

void swapLines(const MemoryView& m, const HostFigures& host, Overrides& out) {
  uint64_t total = std::min(kb(*m.swapLimit), *host.swapTotal);
  uint64_t free = total - std::min(kb(m.swapUsage.value_or(0)), total);
  // Swap the host has already handed to others is not free for this container either.
  if (host.swapFree) free = std::min(free, *host.swapFree);
  out.push_back({"SwapTotal", total});
  out.push_back({"SwapFree", free});
}

}  // namespace

std::string renderMeminfo(std::string_view hostMeminfo, const CgroupView& cg) {
  if (!cg.memory) return std::string(hostMeminfo);
  const MemoryView& m = *cg.memory;
  HostFigures host = hostFigures(hostMeminfo);
  Overrides overrides;
  if (m.limit && host.memTotal) overrides = memoryLines(m, host);
  if (m.swapLimit && host.swapTotal) swapLines(m, host, overrides);
  if (overrides.empty()) return std::string(hostMeminfo);

  std::string out;
  out.reserve(hostMeminfo.size() + 64);
  text::Lines lines(hostMeminfo);
  while (auto line = lines.next()) {
    auto kv = text::splitColon(*line);
    auto it = kv ? std::find_if(overrides.begin(), overrides.end(),
                                [&](const Override& o) { return o.key == kv->key; })
                 : overrides.end();
    if (it == overrides.end() || !kv->value.ends_with("kB")) {
      out.append(*line).push_back('\n');
      continue;
    }
    // The kernel's layout: "Key:" padded to 16 columns, the value right-aligned in 8.
    size_t pad = it->key.size() < 15 ? 15 - it->key.size() : 0;
    fmt::format_to(std::back_inserter(out), "{}:{:{}}{:>8} kB\n", it->key, "", pad, it->kb);
  }
  return out;
}

}  // namespace sv::fs
