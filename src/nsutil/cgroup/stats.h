// Resource usage of a container's cgroups, read from the controllers' files (v1 or v2), and
// rendered as the JSON event `runc events` prints, field for field (runc 1.1 types/events.go:
// the same names, the same omitted zero fields).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sv::cg {

struct MemoryEntry {
  uint64_t limit = 0, usage = 0, max = 0, failcnt = 0;
};

struct BlkioEntry {
  uint64_t major = 0, minor = 0;
  std::string op;  // "Read", "Write", "Sync", "Async", "Discard", "Total" or ""
  uint64_t value = 0;
};

struct HugetlbEntry {
  uint64_t usage = 0, max = 0, failcnt = 0;
};

struct Stats {
  struct Cpu {
    uint64_t total = 0;  // ns
    std::vector<uint64_t> percpu, percpuKernel, percpuUser;
    uint64_t kernel = 0, user = 0;
    uint64_t periods = 0, throttledPeriods = 0, throttledTime = 0;
  } cpu;
  struct Cpuset {
    std::vector<uint16_t> cpus, mems;
    uint64_t cpuExclusive = 0, memHardwall = 0, memExclusive = 0, memoryMigrate = 0,
             memorySpreadPage = 0, memorySpreadSlab = 0, memoryPressure = 0, schedLoadBalance = 0;
    int64_t schedRelaxDomainLevel = 0;
  } cpuset;
  struct Memory {
    uint64_t cache = 0;
    MemoryEntry usage, swap, kernel, kernelTCP;  // swap: memory+swap, as v1 counts it
    std::map<std::string, uint64_t> raw;         // memory.stat
  } memory;
  struct Pids {
    uint64_t current = 0, limit = 0;  // limit 0 = none
  } pids;
  struct Blkio {
    std::vector<BlkioEntry> serviceBytes, serviced, queued, serviceTime, waitTime, merged, time,
        sectors;
  } blkio;
  std::map<std::string, HugetlbEntry> hugetlb;  // by page size name ("2MB")
};

// Each reads one controller's files in dirfd (a v1 hierarchy's directory, or the cgroup2
// directory when v2) into stats. Missing files leave their fields zero, as runc does.
void statCpuacct(int dirfd, Stats& stats);       // v1 cpuacct: usage
void statCpu(int dirfd, bool v2, Stats& stats);  // v1: throttling; v2 cpu.stat: both
void statCpuset(int dirfd, Stats& stats);        // v1
void statMemory(int dirfd, bool v2, Stats& stats);
void statPids(int dirfd, bool v2, Stats& stats);
void statBlkio(int dirfd, bool v2, Stats& stats);
void statHugetlb(int dirfd, bool v2, const std::vector<std::string>& pageSizes, Stats& stats);

// The host's huge page sizes as the kernel names them in hugetlb files, from the
// hugepages-<N>kB directories of sysfsDir.
std::vector<std::string> hugePageSizes(const std::string& sysfsDir = "/sys/kernel/mm/hugepages");

// "0-2,4" -> {0, 1, 2, 4}
std::vector<uint16_t> parseCpuList(const std::string& text);

struct CgroupDir;
// Every controller's stats from the container's directories (v1 hierarchy of each, else the
// cgroup2 directory). Throws SysError when a directory is gone (the container was deleted).
Stats readStats(const std::vector<CgroupDir>& dirs);

// {"type":"stats","id":...,"data":{...}} on one line, without a newline.
std::string statsEventJson(const std::string& id, const Stats& stats);

}  // namespace sv::cg
