// What the /proc renderers know about one container's cgroups: memory limit and usage, CPU set,
// quota and usage, block I/O counts. Built from the *text* of the container's cgroup files so
// the parsers are pure and tests feed them fixtures.
//
// Hosts are v1, v2 or hybrid (v1 controllers plus a cgroup2 hierarchy that holds few or no
// controllers). The caller hands over one lookup that answers "the text of file NAME of the
// container's directory in hierarchy H"; every value is taken from v1 when its v1 file is
// there, else from v2. v1 file names are unique across controllers (they carry the controller
// prefix), so the v1 side is one flat name space over the memory, cpu, cpuacct, cpuset and blkio
// hierarchies. A missing or unparsable value, or an unlimited one, is nullopt: the renderer
// then shows the host's value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sv::fs {

// /proc/stat and cpuacct.stat count in USER_HZ ticks; Linux fixes USER_HZ at 100 on every
// architecture the kernel exports to user space, whatever CONFIG_HZ is.
inline constexpr uint64_t kUserHz = 100;

enum class Hierarchy { kV1, kV2 };

// The text of file `name` ("memory.max") of the container's cgroup in hierarchy h, or nullopt
// when that hierarchy or file is absent. The daemon implements it over the container's cgroup
// directory fds, reading only the files a parser asks for.
using CgroupFiles = std::function<std::optional<std::string>(Hierarchy h, std::string_view name)>;

// memory.stat, normalized to one set of names (v1 "total_*" hierarchical keys, v2 keys). Bytes.
struct MemoryStat {
  uint64_t file = 0;  // page cache including shmem (v1 total_cache, v2 file)
  uint64_t anon = 0;  // anonymous memory without shmem (v1 total_rss, v2 anon)
  uint64_t shmem = 0, fileMapped = 0, fileDirty = 0, fileWriteback = 0, anonThp = 0;
  uint64_t activeAnon = 0, inactiveAnon = 0, activeFile = 0, inactiveFile = 0, unevictable = 0;
  // v2 only: v1's memory.stat has no slab or kernel stack figures.
  std::optional<uint64_t> slabReclaimable, slabUnreclaimable, kernelStack, pageTables;
};

struct MemoryView {
  std::optional<uint64_t> limit;  // bytes; nullopt: unlimited
  uint64_t usage = 0;             // bytes charged to the cgroup (page cache included)
  // Swap alone (v1 memsw minus memory). swapLimit nullopt: unlimited or not accounted;
  // 0 also when v1 memory.swappiness is 0, since the cgroup then never swaps.
  std::optional<uint64_t> swapLimit;
  std::optional<uint64_t> swapUsage;
  MemoryStat stat;
};

// CPU time of the container in USER_HZ ticks.
struct CpuTimes {
  uint64_t user = 0, system = 0;
};

struct CpuView {
  std::optional<std::vector<unsigned>> cpuset;  // effective CPUs, sorted; nullopt: all
  std::optional<uint64_t> quotaUs;              // CFS quota per period; nullopt: unlimited
  uint64_t periodUs = 100000;
  std::optional<CpuTimes> total;  // since the cgroup was created; nullopt: unknown
  // Indexed by host CPU number (v1 cpuacct); empty when only totals are known (v2).
  std::vector<CpuTimes> perCpu;
};

// Completed I/O of one block device, as cgroup files count it (whole disks, not partitions).
struct IoCounts {
  uint64_t readBytes = 0, writeBytes = 0, readOps = 0, writeOps = 0;
  uint64_t discardBytes = 0, discardOps = 0;
};
using DeviceNumber = std::pair<unsigned, unsigned>;  // major, minor
using IoView = std::map<DeviceNumber, IoCounts>;

struct CgroupView {
  std::optional<MemoryView> memory;  // nullopt: no memory controller found
  CpuView cpu;
  std::optional<IoView> io;  // nullopt: no blkio/io controller found
};

// Which parts to parse: each renderer asks only for what it shows, so an open of
// /proc/uptime reads no memory files.
enum CgroupPart : unsigned {
  kMemoryPart = 1,     // MemoryView
  kCpuLimitsPart = 2,  // CpuView cpuset, quota, period
  kCpuUsagePart = 4,   // CpuView total
  kIoPart = 8,         // IoView
  kCpuPerCpuPart = 16,  // CpuView perCpu (with kCpuUsagePart; its total then sums them)
  kAllParts = 31,
};

std::optional<MemoryView> parseMemory(const CgroupFiles& files);
CpuView parseCpu(const CgroupFiles& files,
                 unsigned parts = kCpuLimitsPart | kCpuUsagePart | kCpuPerCpuPart);
std::optional<IoView> parseIo(const CgroupFiles& files);
CgroupView parseCgroupView(const CgroupFiles& files, unsigned parts = kAllParts);

// "0-3,5,7-8\n" → {0,1,2,3,5,7,8}, sorted and unique; malformed ranges are skipped.
std::vector<unsigned> parseCpuList(std::string_view text);

// The host CPUs the container is shown, in host numbering and ascending order: its cpuset
// restricted to hostCpus (all of hostCpus without a cpuset, or when the two do not meet),
// then cut to ceil(quota / period) CPUs when a quota is set, as lxcfs's CPU view does.
// The renderers number them 0, 1, … in this order.
std::vector<unsigned> visibleCpus(const CpuView& cpu, std::span<const unsigned> hostCpus);

}  // namespace sv::fs
