// linux.resources as plain values, and their application to a container's cgroups: one
// file per controller (memory.cc, cpu.cc, pids.cc, blkio.cc, hugetlb.cc, net.cc, rdma.cc,
// unified.cc), each writing v1 or v2 files into a directory fd so it can be tested against a
// fake cgroup tree.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nsutil/cgroup/devices.h"

namespace sv::cg {

// Values the spec gives as 0 where runc reads 0 as "not set" (limits, shares, quota, period,
// weights) are parsed as unset, so an update never writes them.
struct MemoryResources {
  std::optional<int64_t> limit, reservation, swap;  // bytes; -1 = unlimited; swap = memory+swap
  std::optional<uint64_t> swappiness;
  bool disableOOMKiller = false;
  bool checkBeforeUpdate = false;  // v2: refuse a limit below the current usage
  // v1 memory.kmem.tcp.limit_in_bytes (crun sets it too); cgroup v2 has none: ignored there
  std::optional<int64_t> kernelTcp;
};

struct CpuResources {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;    // µs per period; -1 = unlimited
  std::optional<uint64_t> period;  // µs
  std::optional<uint64_t> burst;   // µs
  std::optional<int64_t> realtimeRuntime;
  std::optional<uint64_t> realtimePeriod;
  std::optional<int64_t> idle;
  std::string cpus, mems;  // cpuset
};

struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leafWeight;
};

struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;  // bytes or operations per second
};

struct BlockIoResources {
  std::optional<uint16_t> weight, leafWeight;  // 10..1000
  std::vector<WeightDevice> weightDevices;
  std::vector<ThrottleDevice> readBps, writeBps, readIops, writeIops;
  bool requested() const {
    return weight || leafWeight || !weightDevices.empty() || !readBps.empty() ||
           !writeBps.empty() || !readIops.empty() || !writeIops.empty();
  }
};

struct HugepageLimit {
  std::string pageSize;  // as the kernel names it: "2MB", "1GB", "64KB"
  uint64_t limit = 0;    // bytes
};

struct NetPriority {
  std::string name;  // interface
  uint32_t priority = 0;
};

struct NetworkResources {
  std::optional<uint32_t> classId;
  std::vector<NetPriority> priorities;
};

struct RdmaLimit {
  std::string device;
  std::optional<uint32_t> hcaHandles, hcaObjects;
};

struct Resources {
  std::vector<DeviceRule> devices;  // linux.resources.devices, in order
  MemoryResources memory;
  CpuResources cpu;
  std::optional<int64_t> pidsLimit;  // <= 0 = unlimited
  BlockIoResources blockIO;
  std::vector<HugepageLimit> hugepageLimits;
  NetworkResources network;
  std::vector<RdmaLimit> rdma;                 // by device name, sorted
  std::map<std::string, std::string> unified;  // cgroup2 file name -> value
  // What the spec asks for that is ignored (kernel memory, as runc 1.1 does): the caller
  // logs these as warnings.
  std::vector<std::string> warnings;
};

// Parses the raw linux.resources JSON ("" = nothing). Throws UserError naming the field.
Resources parseResources(const std::string& json);
// The same from linux.resources as already parsed (oci::Linux::resources; null = nothing).
Resources readResources(const nlohmann::json& value);

// Each writes what r asks of its controller into dirfd (a v1 hierarchy's container dir, or
// the v2 dir when v2 is true). Missing knobs the spec asks for are errors that say which.
void applyMemory(const Resources& r, int dirfd, bool v2);
void applyCpu(const Resources& r, int dirfd, bool v2);
void applyCpuset(const Resources& r, int dirfd, bool v2);
void applyPids(const Resources& r, int dirfd, bool v2);
void applyBlkio(const Resources& r, int dirfd, bool v2);
void applyHugetlb(const Resources& r, int dirfd, bool v2);
void applyNetCls(const Resources& r, int dirfd, bool v2);   // v1 only
void applyNetPrio(const Resources& r, int dirfd, bool v2);  // v1 only
void applyRdma(const Resources& r, int dirfd, bool v2);
// The unified key/values into a cgroup2 directory (pure v2 or a hybrid host's unified mount).
void applyUnified(const Resources& r, int dirfd, bool v2);

struct CgroupDir;
// Applies every controller r asks for to the container's directories (v1 hierarchy of that
// controller, else the cgroup2 dir), first enabling the v2 controllers it needs in the
// parents' cgroup.subtree_control. Controllers r does not ask for cost no syscall. Returns
// what r asks for that has no knob where it goes (kernelTCP on cgroup v2), for the caller to
// log as warnings.
std::vector<std::string> applyResources(const Resources& r, const std::vector<CgroupDir>& dirs);

// The kernel's name for a huge page size in bytes (as in hugetlb.<name>.*): "2MB", "1GB".
std::string hugePageSizeName(uint64_t bytes);

// v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), the kernel's/runc's conversion.
uint64_t sharesToWeight(uint64_t shares);
// v1 blkio.weight (10..1000) to v2 io.weight (1..10000), runc's conversion.
uint64_t blkioToIoWeight(uint64_t weight);

}  // namespace sv::cg
