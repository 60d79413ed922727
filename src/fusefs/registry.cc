#include "fusefs/registry.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>

#include "fusefs/text_scan.h"

namespace sv::fs {
namespace {

// Each render parses only the cgroup parts it shows.
CgroupView view(const RenderInputs& in, unsigned parts) {
  return parseCgroupView(in.cgroupFiles(), parts);
}

std::string meminfo(const RenderInputs& in) {
  return renderMeminfo(in.host(HostFile::kMeminfo), view(in, kMemoryPart));
}
std::string cpuinfo(const RenderInputs& in) {
  return renderCpuinfo(in.host(HostFile::kCpuinfo), view(in, kCpuLimitsPart));
}
std::string stat(const RenderInputs& in) {
  return renderStat(in.host(HostFile::kStat),
                    view(in, kCpuLimitsPart | kCpuUsagePart | kCpuPerCpuPart));
}
std::string uptime(const RenderInputs& in) {
  return renderUptime(in.host(HostFile::kUptime), in.container().startTicks,
                      view(in, kCpuLimitsPart | kCpuUsagePart),
                      parseCpuList(in.host(HostFile::kCpusOnline)));
}
std::string loadavg(const RenderInputs& in) {
  return renderLoadavg(in.load());
}
std::string swaps(const RenderInputs& in) {
  return renderSwaps(in.host(HostFile::kSwaps), view(in, kMemoryPart));
}
std::string diskstats(const RenderInputs& in) {
  return renderDiskstats(in.host(HostFile::kDiskstats), view(in, kIoPart));
}
std::string productUuid(const RenderInputs& in) {
  std::string_view id = in.host(HostFile::kProductUuid);
  if (text::trim(id).empty()) id = in.host(HostFile::kMachineId);
  return renderProductUuid(id, in.container().id);
}

// nf_conntrack's hash table size: a module parameter that only init_net's root may set, yet
// Docker and kube-proxy write it. Each container keeps its own value; the host's is untouched.
constexpr std::string_view kHashsizePath = "/sys/module/nf_conntrack/parameters/hashsize";
std::string hashsize(const RenderInputs& in) {
  if (auto v = in.stored(kHashsizePath)) return *v;
  return std::string(in.host(HostFile::kConntrackHashsize));
}
// Like the kernel's nf_conntrack_set_hashsize: kstrtouint in base 0, not 0.
SysctlWrite writeHashsize(std::string_view written, std::string_view) {
  std::string_view v = text::trim(written);
  uint64_t n = 0;
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    v.remove_prefix(2);
  } else if (v.size() > 1 && v[0] == '0') {
    base = 8;
    v.remove_prefix(1);
  }
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n == 0 || n > UINT32_MAX)
    return {EINVAL, {}};
  return {0, std::to_string(n) + "\n"};
}

constexpr mode_t kFile = S_IFREG | 0444;
constexpr mode_t kRootOnlyFile = S_IFREG | 0400;
constexpr std::string_view kProductUuidPath = "/sys/devices/virtual/dmi/id/product_uuid";

// Sorted by path only for the reader; lookup does not depend on the order.
constexpr std::array kEntries = {
    Entry{"/proc/cpuinfo", kFile, Scope::kPath, cpuinfo, nullptr, {}},
    Entry{"/proc/diskstats", kFile, Scope::kPath, diskstats, nullptr, {}},
    Entry{"/proc/loadavg", kFile, Scope::kPath, loadavg, nullptr, {}},
    Entry{"/proc/meminfo", kFile, Scope::kPath, meminfo, nullptr, {}},
    Entry{"/proc/stat", kFile, Scope::kPath, stat, nullptr, {}},
    Entry{"/proc/swaps", kFile, Scope::kPath, swaps, nullptr, {}},
    Entry{"/proc/uptime", kFile, Scope::kPath, uptime, nullptr, {}},
    // Namespaced and per-container sysctls. Its render and write belong to the sysctl rules
    // table (per-knob scope, range and push-to-host policy) and are plugged in with it; until
    // then the daemon must answer EIO for files below it.
    Entry{"/proc/sys", S_IFDIR | 0555, Scope::kSubtree, nullptr, nullptr, {}},
    // Root-only, like the host's: it identifies the machine.
    Entry{kProductUuidPath, kRootOnlyFile, Scope::kPath, productUuid, nullptr, {}},
    Entry{kHashsizePath, S_IFREG | 0600, Scope::kPath, hashsize, writeHashsize, {}},
    // Empty directories where systemd and Docker look for configfs, debugfs, securityfs and
    // tracefs, none of which a user namespace may mount. Modes as the host's mount points.
    Entry{"/sys/kernel/config", S_IFDIR | 0755, Scope::kPath, nullptr, nullptr, {}},
    Entry{"/sys/kernel/debug", S_IFDIR | 0700, Scope::kPath, nullptr, nullptr, {}},
    Entry{"/sys/kernel/security", S_IFDIR | 0755, Scope::kPath, nullptr, nullptr, {}},
    Entry{"/sys/kernel/tracing", S_IFDIR | 0700, Scope::kPath, nullptr, nullptr, {}},
};

constexpr std::array<std::string_view, 10> kHostPaths = {
    "/proc/meminfo",
    "/proc/cpuinfo",
    "/proc/stat",
    "/proc/uptime",
    "/proc/diskstats",
    "/proc/swaps",
    "/sys/devices/system/cpu/online",
    "/sys/devices/virtual/dmi/id/product_uuid",
    "/etc/machine-id",
    "/sys/module/nf_conntrack/parameters/hashsize",
};

std::string_view normalize(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

// Whether `path` lies strictly below directory `dir`.
bool isBelow(std::string_view path, std::string_view dir) {
  if (dir == "/") return path.size() > 1 && path.front() == '/';
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

}  // namespace

std::string_view hostPath(HostFile f) {
  return kHostPaths[static_cast<size_t>(f)];
}

std::span<const Entry> emulatedEntries() {
  return kEntries;
}

Lookup Registry::lookup(std::string_view path) const {
  path = normalize(path);
  if (path.empty() || path.front() != '/') return {};
  const Entry* subtree = nullptr;
  for (const Entry& e : entries_) {
    if (e.path == path) return {Lookup::kEntry, &e, {}};
    if (e.scope == Scope::kSubtree && isBelow(path, e.path) &&
        (!subtree || e.path.size() > subtree->path.size())) {
      subtree = &e;
    }
  }
  if (subtree) return {Lookup::kEntry, subtree, path.substr(subtree->path.size() + 1)};
  if (path == "/") return {Lookup::kImplicit, nullptr, {}};
  for (const Entry& e : entries_) {
    if (isBelow(e.path, path)) return {Lookup::kImplicit, nullptr, {}};
  }
  return {};
}

std::optional<std::vector<DirEntry>> Registry::readdir(std::string_view path) const {
  path = normalize(path);
  Lookup l = lookup(path);
  if (l.kind == Lookup::kNone) return std::nullopt;
  if (l.kind == Lookup::kEntry && !S_ISDIR(l.entry->mode)) return std::nullopt;
  std::vector<DirEntry> out;
  size_t skip = path == "/" ? 1 : path.size() + 1;
  for (const Entry& e : entries_) {
    if (!isBelow(e.path, path)) continue;
    std::string_view rest = e.path.substr(skip);
    auto slash = rest.find('/');
    DirEntry child{rest.substr(0, slash),
                   slash == std::string_view::npos ? e.mode : kImplicitDirMode};
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const DirEntry& d) { return d.name == child.name; });
    if (same == out.end()) {
      out.push_back(child);
    } else if (slash == std::string_view::npos) {
      *same = child;  // the entry itself says what it is, over an implied directory
    }
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

}  // namespace sv::fs
