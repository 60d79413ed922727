#include "fusefs/cgroup_view.h"

#include <algorithm>

#include "fusefs/text_scan.h"

namespace sv::fs {
namespace {

// v1 prints "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages, other
// values with other page sizes); anything from 2^62 bytes up is no real limit either.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;
constexpr uint64_t kNsPerTick = 1000000000 / kUserHz;
constexpr uint64_t kUsPerTick = 1000000 / kUserHz;

std::optional<uint64_t> number(const CgroupFiles& files, Hierarchy h, std::string_view name) {
  auto text = files(h, name);
  return text ? text::toU64(*text) : std::nullopt;
}

// A v1 byte limit; the unlimited value becomes nullopt.
std::optional<uint64_t> v1Limit(std::optional<uint64_t> v) {
  return v && *v < kV1Unlimited ? v : std::nullopt;
}

// A v2 limit file: "max" is no number, so it reads as nullopt like a missing file.
std::optional<uint64_t> v2Limit(const CgroupFiles& files, std::string_view name) {
  return number(files, Hierarchy::kV2, name);
}

std::optional<uint64_t> minLimit(std::optional<uint64_t> a, std::optional<uint64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// Calls f(key, value) for every "key value" line of a flat-keyed cgroup file.
template <typename F>
void forEachKeyValue(std::string_view text, F&& f) {
  text::Lines lines(text);
  while (auto line = lines.next()) {
    text::Words words(*line);
    auto key = words.next();
    auto value = words.next();
    if (!key || !value) continue;
    if (auto v = text::toU64(*value)) f(*key, *v);
  }
}

// memory.stat keys per version, for each normalized field. v1 uses the hierarchical "total_"
// keys: the container's cgroup has children (systemd and Docker inside create them).
struct StatKey {
  uint64_t MemoryStat::*field;
  std::string_view v1, v2;
};
constexpr StatKey kStatKeys[] = {
    {&MemoryStat::file, "total_cache", "file"},
    {&MemoryStat::anon, "total_rss", "anon"},
    {&MemoryStat::shmem, "total_shmem", "shmem"},
    {&MemoryStat::fileMapped, "total_mapped_file", "file_mapped"},
    {&MemoryStat::fileDirty, "total_dirty", "file_dirty"},
    {&MemoryStat::fileWriteback, "total_writeback", "file_writeback"},
    {&MemoryStat::anonThp, "total_rss_huge", "anon_thp"},
    {&MemoryStat::activeAnon, "total_active_anon", "active_anon"},
    {&MemoryStat::inactiveAnon, "total_inactive_anon", "inactive_anon"},
    {&MemoryStat::activeFile, "total_active_file", "active_file"},
    {&MemoryStat::inactiveFile, "total_inactive_file", "inactive_file"},
    {&MemoryStat::unevictable, "total_unevictable", "unevictable"},
};
struct OptionalStatKey {
  std::optional<uint64_t> MemoryStat::*field;
  std::string_view v2;
};
constexpr OptionalStatKey kV2OnlyStatKeys[] = {
    {&MemoryStat::slabReclaimable, "slab_reclaimable"},
    {&MemoryStat::slabUnreclaimable, "slab_unreclaimable"},
    {&MemoryStat::kernelStack, "kernel_stack"},
    {&MemoryStat::pageTables, "pagetables"},
};

struct V1Hierarchical {
  std::optional<uint64_t> memory, memsw;
};

V1Hierarchical parseMemoryStat(std::string_view text, bool v2, MemoryStat& stat) {
  V1Hierarchical hier;
  forEachKeyValue(text, [&](std::string_view key, uint64_t value) {
    for (const auto& k : kStatKeys) {
      if (key == (v2 ? k.v2 : k.v1)) stat.*k.field = value;
    }
    if (v2) {
      for (const auto& k : kV2OnlyStatKeys) {
        if (key == k.v2) stat.*k.field = value;
      }
    } else if (key == "hierarchical_memory_limit") {
      hier.memory = v1Limit(value);
    } else if (key == "hierarchical_memsw_limit") {
      hier.memsw = v1Limit(value);
    }
  });
  return hier;
}

std::optional<MemoryView> parseMemoryV1(const CgroupFiles& files) {
  constexpr auto v1 = Hierarchy::kV1;
  auto usage = number(files, v1, "memory.usage_in_bytes");
  if (!usage) return std::nullopt;
  MemoryView m;
  m.usage = *usage;
  V1Hierarchical hier;
  if (auto stat = files(v1, "memory.stat")) hier = parseMemoryStat(*stat, false, m.stat);
  // The hierarchical limits include the ancestors' (a Docker parent with its own limit).
  m.limit = minLimit(v1Limit(number(files, v1, "memory.limit_in_bytes")), hier.memory);
  auto memswLimit = minLimit(v1Limit(number(files, v1, "memory.memsw.limit_in_bytes")), hier.memsw);
  auto memswUsage = number(files, v1, "memory.memsw.usage_in_bytes");
  if (memswLimit) {
    // memsw bounds memory plus swap; with memory unlimited it alone bounds swap.
    m.swapLimit = m.limit ? *memswLimit - std::min(*memswLimit, *m.limit) : *memswLimit;
  }
  if (memswUsage) m.swapUsage = *memswUsage - std::min(*memswUsage, m.usage);
  if (number(files, v1, "memory.swappiness") == uint64_t{0}) m.swapLimit = 0;
  return m;
}

std::optional<MemoryView> parseMemoryV2(const CgroupFiles& files) {
  constexpr auto v2 = Hierarchy::kV2;
  auto usage = number(files, v2, "memory.current");
  if (!usage) return std::nullopt;
  MemoryView m;
  m.usage = *usage;
  if (auto stat = files(v2, "memory.stat")) parseMemoryStat(*stat, true, m.stat);
  m.limit = v2Limit(files, "memory.max");
  m.swapLimit = v2Limit(files, "memory.swap.max");
  m.swapUsage = number(files, v2, "memory.swap.current");
  return m;
}

std::optional<std::vector<unsigned>> parseCpuset(const CgroupFiles& files) {
  for (auto [h, name] : {std::pair{Hierarchy::kV1, "cpuset.effective_cpus"},
                         std::pair{Hierarchy::kV1, "cpuset.cpus"},
                         std::pair{Hierarchy::kV2, "cpuset.cpus.effective"}}) {
    auto text = files(h, name);
    if (!text) continue;
    auto cpus = parseCpuList(*text);
    // An empty v1 cpuset.cpus belongs to a cgroup nobody configured; it holds no task.
    if (!cpus.empty()) return cpus;
  }
  return std::nullopt;
}

void parseQuota(const CgroupFiles& files, CpuView& cpu) {
  if (auto quota = files(Hierarchy::kV1, "cpu.cfs_quota_us")) {
    auto q = text::toI64(*quota);  // -1: no quota
    auto period = number(files, Hierarchy::kV1, "cpu.cfs_period_us");
    if (q && *q > 0 && period && *period > 0) {
      cpu.quotaUs = static_cast<uint64_t>(*q);
      cpu.periodUs = *period;
    }
    return;
  }
  if (auto max = files(Hierarchy::kV2, "cpu.max")) {  // "max 100000" or "50000 100000"
    text::Words words(*max);
    auto q = words.next();
    auto period = words.next();
    auto qv = q ? text::toU64(*q) : std::nullopt;
    auto pv = period ? text::toU64(*period) : std::nullopt;
    if (qv && *qv > 0 && pv && *pv > 0) {
      cpu.quotaUs = *qv;
      cpu.periodUs = *pv;
    }
  }
}

std::vector<uint64_t> numbers(std::string_view text) {
  std::vector<uint64_t> out;
  text::Words words(text);
  while (auto w = words.next()) out.push_back(text::toU64(*w).value_or(0));
  return out;
}

// cpuacct.usage_all: "cpu user system" then "N <user ns> <system ns>" per CPU (kernel ≥ 4.16).
std::vector<CpuTimes> parseUsageAll(std::string_view text) {
  std::vector<CpuTimes> out;
  text::Lines lines(text);
  while (auto line = lines.next()) {
    auto v = numbers(*line);
    if (v.size() != 3 || text::Words(*line).next() == "cpu") continue;
    if (v[0] >= 65536) continue;
    if (out.size() <= v[0]) out.resize(v[0] + 1);
    out[v[0]] = {v[1] / kNsPerTick, v[2] / kNsPerTick};
  }
  return out;
}

// cpuacct.usage_percpu gives only busy ns per CPU: split each CPU's ticks by the container's
// overall user:system ratio from cpuacct.stat.
std::vector<CpuTimes> splitPerCpu(std::string_view percpuText, const CpuTimes& ratio) {
  std::vector<CpuTimes> out;
  uint64_t sum = ratio.user + ratio.system;
  for (uint64_t ns : numbers(percpuText)) {
    uint64_t ticks = ns / kNsPerTick;
    uint64_t user =
        sum == 0 ? ticks
                 : static_cast<uint64_t>(static_cast<unsigned __int128>(ticks) * ratio.user / sum);
    out.push_back({user, ticks - user});
  }
  return out;
}

void parseUsageV1(const CgroupFiles& files, CpuView& cpu, bool perCpu) {
  constexpr auto v1 = Hierarchy::kV1;
  CpuTimes total;
  bool haveTotal = false;
  if (auto stat = files(v1, "cpuacct.stat")) {  // "user N\nsystem M\n" in ticks
    forEachKeyValue(*stat, [&](std::string_view key, uint64_t value) {
      if (key == "user" || key == "system") {
        (key == "user" ? total.user : total.system) = value;
        haveTotal = true;
      }
    });
  } else if (auto ns = number(files, v1, "cpuacct.usage")) {
    total.user = *ns / kNsPerTick;  // no split known: count it as user time
    haveTotal = true;
  }
  if (!perCpu) {
    // Totals only (uptime): the per-CPU file is the costliest to read.
  } else if (auto all = files(v1, "cpuacct.usage_all")) {
    cpu.perCpu = parseUsageAll(*all);
  } else if (auto percpu = files(v1, "cpuacct.usage_percpu")) {
    cpu.perCpu = splitPerCpu(*percpu, total);
  }
  if (!cpu.perCpu.empty()) {
    // One source for both, so the per-CPU lines add up to the total.
    total = {};
    for (const auto& t : cpu.perCpu) {
      total.user += t.user;
      total.system += t.system;
    }
    haveTotal = true;
  }
  if (haveTotal) cpu.total = total;
}

void parseUsageV2(const CgroupFiles& files, CpuView& cpu) {
  auto stat = files(Hierarchy::kV2, "cpu.stat");
  if (!stat) return;
  std::optional<uint64_t> usage, user, system;
  forEachKeyValue(*stat, [&](std::string_view key, uint64_t value) {
    if (key == "usage_usec") usage = value;
    if (key == "user_usec") user = value;
    if (key == "system_usec") system = value;
  });
  if (user || system) {
    cpu.total = CpuTimes{user.value_or(0) / kUsPerTick, system.value_or(0) / kUsPerTick};
  } else if (usage) {
    cpu.total = CpuTimes{*usage / kUsPerTick, 0};
  }
}

void addIo(IoView& io, std::string_view devText, std::string_view op, uint64_t value, bool bytes) {
  auto colon = devText.find(':');
  if (colon == std::string_view::npos) return;
  auto major = text::toU64(devText.substr(0, colon));
  auto minor = text::toU64(devText.substr(colon + 1));
  if (!major || !minor) return;
  auto& c = io[{static_cast<unsigned>(*major), static_cast<unsigned>(*minor)}];
  if (op == "Read" || op == "rbytes" || op == "rios") (bytes ? c.readBytes : c.readOps) = value;
  if (op == "Write" || op == "wbytes" || op == "wios") (bytes ? c.writeBytes : c.writeOps) = value;
  if (op == "Discard" || op == "dbytes" || op == "dios") {
    (bytes ? c.discardBytes : c.discardOps) = value;
  }
}

// v1 blkio: "MAJ:MIN Op value" lines, then a "Total value" line.
void parseBlkioV1(std::string_view text, bool bytes, IoView& io) {
  text::Lines lines(text);
  while (auto line = lines.next()) {
    text::Words words(*line);
    auto dev = words.next(), op = words.next(), value = words.next();
    if (!dev || !op || !value) continue;
    if (auto v = text::toU64(*value)) addIo(io, *dev, *op, *v, bytes);
  }
}

// v2 io.stat: "MAJ:MIN rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6" per device.
void parseIoStatV2(std::string_view text, IoView& io) {
  text::Lines lines(text);
  while (auto line = lines.next()) {
    text::Words words(*line);
    auto dev = words.next();
    if (!dev) continue;
    while (auto kv = words.next()) {
      auto eq = kv->find('=');
      if (eq == std::string_view::npos) continue;
      auto key = kv->substr(0, eq);
      auto v = text::toU64(kv->substr(eq + 1));
      if (v) addIo(io, *dev, key, *v, key.ends_with("bytes"));
    }
  }
}

}  // namespace

std::vector<unsigned> parseCpuList(std::string_view text) {
  // The kernel caps NR_CPUS far below this; the cap keeps "0-4000000000" from looping.
  constexpr uint64_t kMaxCpu = 65535;
  std::vector<unsigned> out;
  text = text::trim(text);
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view range = text.substr(0, comma);
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
    auto dash = range.find('-');
    auto lo = text::toU64(range.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : text::toU64(range.substr(dash + 1));
    if (!lo || !hi || *lo > *hi || *hi > kMaxCpu) continue;
    for (uint64_t c = *lo; c <= *hi; ++c) out.push_back(static_cast<unsigned>(c));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<MemoryView> parseMemory(const CgroupFiles& files) {
  if (auto m = parseMemoryV1(files)) return m;
  return parseMemoryV2(files);
}

CpuView parseCpu(const CgroupFiles& files, unsigned parts) {
  CpuView cpu;
  if (parts & kCpuLimitsPart) {
    cpu.cpuset = parseCpuset(files);
    parseQuota(files, cpu);
  }
  if (parts & kCpuUsagePart) {
    parseUsageV1(files, cpu, (parts & kCpuPerCpuPart) != 0);
    if (!cpu.total) parseUsageV2(files, cpu);
  }
  return cpu;
}

std::optional<IoView> parseIo(const CgroupFiles& files) {
  constexpr auto v1 = Hierarchy::kV1;
  // The throttle files count every I/O; the plain ones only I/O under CFQ/BFQ.
  for (auto prefix : {"blkio.throttle.", "blkio."}) {
    auto bytes = files(v1, std::string(prefix) + "io_service_bytes_recursive");
    auto ops = files(v1, std::string(prefix) + "io_serviced_recursive");
    if (!bytes && !ops) continue;
    IoView io;
    parseBlkioV1(bytes.value_or(""), true, io);
    parseBlkioV1(ops.value_or(""), false, io);
    return io;
  }
  if (auto stat = files(Hierarchy::kV2, "io.stat")) {
    IoView io;
    parseIoStatV2(*stat, io);
    return io;
  }
  return std::nullopt;
}

CgroupView parseCgroupView(const CgroupFiles& files, unsigned parts) {
  CgroupView view;
  if (parts & kMemoryPart) view.memory = parseMemory(files);
  if (parts & (kCpuLimitsPart | kCpuUsagePart)) view.cpu = parseCpu(files, parts);
  if (parts & kIoPart) view.io = parseIo(files);
  return view;
}

std::vector<unsigned> visibleCpus(const CpuView& cpu, std::span<const unsigned> hostCpus) {
  std::vector<unsigned> out;
  if (cpu.cpuset) {
    for (unsigned h : hostCpus) {
      if (std::binary_search(cpu.cpuset->begin(), cpu.cpuset->end(), h)) out.push_back(h);
    }
  }
  if (out.empty()) out.assign(hostCpus.begin(), hostCpus.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (cpu.quotaUs && cpu.periodUs > 0) {
    uint64_t n = std::max<uint64_t>(1, (*cpu.quotaUs + cpu.periodUs - 1) / cpu.periodUs);
    if (out.size() > n) out.resize(n);
  }
  return out;
}

}  // namespace sv::fs
