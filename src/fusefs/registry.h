// The one table of paths sysvisor-fs emulates, as the container sees them ("/proc/meminfo"):
// {path, mode, scope, render, write, range}. Lookup takes an exact match, then the longest
// subtree entry above the path; directories are the entries' parents plus directory entries,
// and readdir lists them from the same table. The FUSE layer strips the per-container prefix
// ("/<id>") before it asks.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fusefs/cgroup_view.h"
#include "fusefs/sysctl_table.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {

// The host files renderers read. The daemon reads only those a render asks for.
enum class HostFile : uint8_t {
  kMeminfo,      // /proc/meminfo
  kCpuinfo,      // /proc/cpuinfo
  kStat,         // /proc/stat
  kUptime,       // /proc/uptime
  kDiskstats,    // /proc/diskstats
  kSwaps,        // /proc/swaps
  kCpusOnline,   // /sys/devices/system/cpu/online
  kProductUuid,  // /sys/devices/virtual/dmi/id/product_uuid (absent on some machines)
  kMachineId,    // /etc/machine-id, the identity used when product_uuid is absent
  kConntrackHashsize,  // /sys/module/nf_conntrack/parameters/hashsize (module loaded only)
};
std::string_view hostPath(HostFile f);

// What the runtime registered about the container.
struct ContainerInfo {
  std::string id;
  uint64_t startTicks = 0;  // start of its init, USER_HZ ticks since host boot
};

// Everything a render may need for one container. The daemon implements it lazily (each
// input read at most once, and only when asked: an open of /proc/uptime reads no meminfo);
// tests implement it over fixtures. Renders stay pure functions of these answers.
class RenderInputs {
 public:
  virtual ~RenderInputs() = default;
  // The host file's text; empty when it cannot be read.
  virtual std::string_view host(HostFile f) const = 0;
  virtual const CgroupFiles& cgroupFiles() const = 0;
  virtual const ContainerInfo& container() const = 0;
  // The load of the container's tasks (computed by the daemon from its pid namespace).
  virtual LoadAvg load() const = 0;
  // A value the container wrote to a writable entry (keyed by the entry's path).
  virtual std::optional<std::string> stored(std::string_view) const { return std::nullopt; }
};

using RenderFn = std::string (*)(const RenderInputs&);
// Checks a write to a writable entry against the value it holds now: the value to keep for
// the container (stored under the entry's path, what render shows from then on), or an errno
// like the kernel's. /proc/sys has its own rules (sysctl_table.h).
using WriteFn = SysctlWrite (*)(std::string_view written, std::string_view current);

enum class Scope : uint8_t {
  kPath,     // this path only
  kSubtree,  // this path and everything below it; the entry's handler resolves the rest
};

// Inclusive bounds of a numeric value written to the entry (EINVAL outside, like the kernel).
struct Range {
  int64_t min, max;
};

struct Entry {
  std::string_view path;  // absolute, no trailing slash
  mode_t mode;            // S_IFREG or S_IFDIR, and the permissions the container sees
  Scope scope;
  RenderFn render;  // null for directories (and for /proc/sys, see registry.cc)
  WriteFn write;    // null: read-only
  std::optional<Range> range;
};

struct DirEntry {
  std::string_view name;
  mode_t mode;
  bool operator==(const DirEntry&) const = default;
};

struct Lookup {
  enum Kind : uint8_t {
    kNone,      // not emulated: ENOENT
    kEntry,     // entry is set; rest is the path below it for a kSubtree entry
    kImplicit,  // a directory on the way to entries ("/", "/proc", "/sys/devices")
  };
  Kind kind = kNone;
  const Entry* entry = nullptr;
  std::string_view rest;  // "kernel/panic" for "/proc/sys/kernel/panic"; else empty
};

// Mode of the directories the table implies.
inline constexpr mode_t kImplicitDirMode = S_IFDIR | 0555;

class Registry {
 public:
  explicit Registry(std::span<const Entry> entries) : entries_(entries) {}

  Lookup lookup(std::string_view path) const;
  // The table's children of a directory (entries and implicit directories right below it),
  // sorted by name; nullopt when path is no directory of the table. For a kSubtree entry this
  // is what the table adds below it; its handler lists the rest.
  std::optional<std::vector<DirEntry>> readdir(std::string_view path) const;
  std::span<const Entry> entries() const { return entries_; }

 private:
  std::span<const Entry> entries_;
};

// sysvisor-fs's table.
std::span<const Entry> emulatedEntries();

}  // namespace sv::fs
