// /proc/stat of a container: see vfiles.h for how CPU time is attributed.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <vector>

#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

// Columns of a cpu line: user nice system idle iowait irq softirq steal guest guest_nice.
enum Column { kUser, kNice, kSystem, kIdle, kIowait, kIrq, kSoftirq, kSteal };
// guest and guest_nice are already counted in user and nice, so elapsed time stops at steal.
constexpr size_t kElapsedColumns = kSteal + 1;

struct CpuLine {
  std::optional<unsigned> cpu;  // nullopt: the "cpu" total line
  std::vector<uint64_t> values;
};

// "cpu  1 2 3" / "cpu7 1 2 3" → CpuLine; other lines nullopt.
std::optional<CpuLine> parseCpuLine(std::string_view line) {
  text::Words words(line);
  auto name = words.next();
  if (!name || !name->starts_with("cpu")) return std::nullopt;
  CpuLine out;
  if (name->size() > 3) {
    auto n = text::toU64(name->substr(3));
    if (!n || *n > 65535) return std::nullopt;
    out.cpu = static_cast<unsigned>(*n);
  }
  while (auto w = words.next()) {
    auto v = text::toU64(*w);
    if (!v) return std::nullopt;
    out.values.push_back(*v);
  }
  return out;
}

void appendCpuLine(std::string& out, std::optional<unsigned> cpu,
                   const std::vector<uint64_t>& values) {
  // The kernel prints "cpu " plus " %llu" per column for the total, hence its two spaces.
  if (cpu) {
    fmt::format_to(std::back_inserter(out), "cpu{}", *cpu);
  } else {
    out.append("cpu ");
  }
  for (uint64_t v : values) fmt::format_to(std::back_inserter(out), " {}", v);
  out.push_back('\n');
}

// Share k of n of an amount split evenly, remainders to the first shares. Grows monotonically
// with the amount, so tools that subtract two readings never see time run backwards.
uint64_t evenShare(uint64_t amount, size_t k, size_t n) {
  return amount / n + (k < amount % n);
}

// The lines the container sees for its shown CPUs, in host order of `shown`.
std::vector<std::vector<uint64_t>> containerLines(const std::vector<CpuLine>& host,
                                                  const std::vector<unsigned>& shown,
                                                  const CpuView& cpu) {
  std::vector<const CpuLine*> lines;
  for (unsigned c : shown) {
    auto it = std::find_if(host.begin(), host.end(), [&](const CpuLine& l) { return l.cpu == c; });
    lines.push_back(&*it);
  }
  std::vector<std::vector<uint64_t>> out;
  if (!cpu.total) {
    for (const CpuLine* l : lines) out.push_back(l->values);
    return out;
  }
  auto own = [&](unsigned c) { return c < cpu.perCpu.size() ? cpu.perCpu[c] : CpuTimes{}; };
  // Time on CPUs the container is not shown (or all of it, when only totals are known).
  CpuTimes rest = *cpu.total;
  for (unsigned c : shown) {
    rest.user -= std::min(rest.user, own(c).user);
    rest.system -= std::min(rest.system, own(c).system);
  }
  for (size_t k = 0; k < lines.size(); ++k) {
    const auto& host = lines[k]->values;
    uint64_t user = own(shown[k]).user + evenShare(rest.user, k, lines.size());
    uint64_t system = own(shown[k]).system + evenShare(rest.system, k, lines.size());
    uint64_t elapsed = 0;
    for (size_t i = 0; i < std::min(host.size(), kElapsedColumns); ++i) elapsed += host[i];
    std::vector<uint64_t> values(host.size(), 0);
    if (values.size() > kIdle) {
      values[kUser] = user;
      values[kSystem] = system;
      values[kIdle] = elapsed - std::min(elapsed, user + system);
    }
    out.push_back(std::move(values));
  }
  return out;
}

}  // namespace

std::string renderStat(std::string_view hostStat, const CgroupView& cg) {
  std::vector<CpuLine> host;
  size_t totalColumns = 0;
  text::Lines scan(hostStat);
  while (auto line = scan.next()) {
    auto l = parseCpuLine(*line);
    if (!l) continue;
    if (l->cpu) {
      host.push_back(std::move(*l));
    } else {
      totalColumns = l->values.size();
    }
  }
  std::vector<unsigned> hostCpus;
  for (const auto& l : host) hostCpus.push_back(*l.cpu);
  std::vector<unsigned> shown = visibleCpus(cg.cpu, hostCpus);
  if (shown == hostCpus && !cg.cpu.total) return std::string(hostStat);

  auto lines = containerLines(host, shown, cg.cpu);
  std::vector<uint64_t> total(totalColumns, 0);
  for (const auto& values : lines) {
    for (size_t i = 0; i < std::min(values.size(), total.size()); ++i) total[i] += values[i];
  }

  std::string out;
  out.reserve(hostStat.size());
  bool cpusDone = false;
  text::Lines lines2(hostStat);
  while (auto line = lines2.next()) {
    auto l = parseCpuLine(*line);
    if (!l) {
      out.append(*line).push_back('\n');
    } else if (!l->cpu) {
      appendCpuLine(out, std::nullopt, total);
    } else if (!cpusDone) {  // all shown CPUs where the host's first cpuN line was
      for (size_t k = 0; k < lines.size(); ++k)
        appendCpuLine(out, static_cast<unsigned>(k), lines[k]);
      cpusDone = true;
    }
  }
  return out;
}

}  // namespace sv::fs
