// linux.resources as plain values, and their application to a container's cgroups: one
// file per controller (memory.cc, cpu.cc, pids.cc), each writing v1 or v2 files into a
// directory fd so it can be tested against a fake cgroup tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nsutil/cgroup/devices.h"

namespace sv::cg {

struct MemoryResources {
  std::optional<int64_t> limit, reservation, swap;  // bytes; -1 = unlimited
  std::optional<uint64_t> swappiness;
  bool disableOOMKiller = false;
};

struct CpuResources {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;   // µs per period; -1 = unlimited
  std::optional<uint64_t> period;  // µs
  std::string cpus, mems;          // cpuset
};

struct Resources {
  std::vector<DeviceRule> devices;  // linux.resources.devices, in order
  MemoryResources memory;
  CpuResources cpu;
  std::optional<int64_t> pidsLimit;  // <= 0 = unlimited
};

// Parses the raw linux.resources JSON ("" = nothing). Throws UserError naming the field.
Resources parseResources(const std::string& json);

// Each writes what r asks of its controller into dirfd (a v1 hierarchy's container dir, or
// the v2 dir when v2 is true). Missing knobs the spec asks for are errors that say which.
void applyMemory(const Resources& r, int dirfd, bool v2);
void applyCpu(const Resources& r, int dirfd, bool v2);
void applyCpuset(const Resources& r, int dirfd, bool v2);
void applyPids(const Resources& r, int dirfd, bool v2);

struct CgroupDir;
// Applies every controller r asks for to the container's directories (v1 hierarchy of that
// controller, else the cgroup2 dir of a pure-v2 host).
void applyResources(const Resources& r, const std::vector<CgroupDir>& dirs);

// v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), the kernel's/runc's conversion.
uint64_t sharesToWeight(uint64_t shares);

}  // namespace sv::cg
