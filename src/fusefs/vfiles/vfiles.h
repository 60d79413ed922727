// The renderers of the emulated /proc and /sys files: pure functions from the host's text and
// the container's cgroup values to the text the container reads. No I/O, no clock, never a
// throw on odd host text (unknown lines are kept, malformed ones skipped). One .cc per family.
//
// The rule for limits: what the container is not limited in, it sees as the host has it
// (meminfo of a container without a memory limit is the host's meminfo; cpuinfo without a
// cpuset or quota is the host's). Usage counters (CPU times, I/O counts) are the container's
// whenever its cgroup reports them.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "fusefs/cgroup_view.h"

namespace sv::fs {

// /proc/meminfo. With a memory limit: MemTotal = min(limit, host MemTotal), MemFree = MemTotal -
// usage, Cached/Active/Inactive/Shmem/Mapped/Dirty/… from memory.stat, Buffers and SwapCached
// 0, MemAvailable = MemFree + reclaimable file and slab pages, so `free` adds up (used =
// total - free - buffers - cache stays ≥ 0). Slab lines are the container's on v2 and 0 on v1
// (v1 does not report slab; the host's figure would make `free` count foreign cache).
// With a swap limit: SwapTotal = min(limit, host SwapTotal), SwapFree = SwapTotal - the
// container's swap use, never above the host's SwapFree. Without one the swap lines are the
// host's. Every other line is the host's.
std::string renderMeminfo(std::string_view hostMeminfo, const CgroupView& cg);

// /proc/cpuinfo: the blocks ("processor\t: N" up to the blank line) of visibleCpus(), numbered
// 0, 1, … in that order; other lines (architecture headers and trailers) kept.
std::string renderCpuinfo(std::string_view hostCpuinfo, const CgroupView& cg);

// /proc/stat: the "cpu" and "cpuN" lines of visibleCpus(), numbered from 0, then every other
// line of the host's (intr, ctxt, btime, processes, procs_*, softirq: btime is the host's boot
// time, which is also the container's clock origin). When the cgroup reports CPU time, each
// shown CPU gets the container's user and system ticks (its own per-CPU figures on v1; on v2,
// which reports totals only, the total spread evenly over the shown CPUs, remainders to the
// first ones), the usage of CPUs not shown is spread the same way, the other columns are 0
// and idle = the host CPU's elapsed ticks - what the container used, so every line still
// sums to the CPU's elapsed time and `top` computes percentages of the container's use.
// The "cpu" line is the sum of the shown lines.
std::string renderStat(std::string_view hostStat, const CgroupView& cg);

// /proc/uptime: "<up> <idle>\n" with two decimals, truncated like the kernel's. up = host
// uptime - container start. idle is summed over CPUs like the kernel's: shown CPUs × up - the
// container's CPU time when the cgroup reports it, else the host's idle scaled to the
// container's lifetime and share of CPUs.
// containerStartTicks: start of the container's init in USER_HZ ticks since host boot (field 22
// of /proc/<pid>/stat). hostCpus: the host's online CPUs (/sys/devices/system/cpu/online).
std::string renderUptime(std::string_view hostUptime, uint64_t containerStartTicks,
                         const CgroupView& cg, std::span<const unsigned> hostCpus);

// /proc/loadavg from the container's own figures (the daemon computes them from its tasks).
struct LoadAvg {
  double avg1 = 0, avg5 = 0, avg15 = 0;
  unsigned running = 0, total = 0;  // runnable tasks / all tasks
  int lastPid = 0;                  // last pid allocated in the container's pid namespace
};
// "0.00 0.01 0.05 1/123 4567\n", as the kernel prints it.
std::string renderLoadavg(const LoadAvg& load);

// /proc/swaps: the host's text when the container may swap without a limit or up to a
// positive one; the header line alone when its swap limit is 0 (Sysbox shows only the header
// for a container without swap). Device lines are the host's: a swap limit caps the
// container's share of the devices, it does not make new ones.
std::string renderSwaps(std::string_view hostSwaps, const CgroupView& cg);

// /proc/diskstats: the host's device lines with the container's counts for the devices in
// its cgroup's I/O statistics (reads/writes completed, sectors read/written, discards) and
// zeros for everything else, time and merge columns included (cgroups do not report them).
// Unlike lxcfs, which omits untouched devices, every host device stays listed so that tools
// keep finding their disks. No I/O statistics at all: the host's text.
std::string renderDiskstats(std::string_view hostDiskstats, const CgroupView& cg);

// /sys/devices/virtual/dmi/id/product_uuid: a name-based (version 5, SHA-1) UUID of the
// container id in the namespace of the host's identity, lowercase 8-4-4-4-12 and a newline.
// hostId is the host's product_uuid text, or /etc/machine-id when the host has none; any text
// works (one that is not a UUID is hashed into one). Stable for a container, different
// between containers and between hosts.
std::string renderProductUuid(std::string_view hostId, std::string_view containerId);

}  // namespace sv::fs
