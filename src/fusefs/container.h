// One registered container as sysvisor-fs sees it: what the runtime told (ids, init, start),
// its cgroup directories (opened once), its per-container sysctl values and its load; and the
// table of them that FUSE threads read as an immutable snapshot.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "fusefs/cgroup_view.h"
#include "fusefs/file_cache.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {

struct ContainerData {
  std::string id;
  pid_t initPid = 0;
  uint64_t startTicks = 0;  // the init's start, USER_HZ ticks since boot
  uint32_t uidBase = 0, gidBase = 0, idSize = 0;
  int64_t created = 0;  // unix nanoseconds
  std::string hostname;
  std::vector<std::string> cgroupLines;  // /proc/<pid>/cgroup lines
};

// Where the host's cgroup hierarchies are mounted: v1 controller name → mount point, and
// the cgroup2 mount point ("" when there is none). Read once from mountinfo.
struct CgroupMounts {
  std::map<std::string, std::string, std::less<>> v1;
  std::string v2;
  static CgroupMounts fromMountinfo(std::string_view mountinfo);
};

// Per-container load average, sampled like the kernel's (every 5 s, exponentially decayed)
// from the container's tasks, only while someone reads /proc/loadavg.
struct LoadState {
  std::mutex mu;
  double avg[3] = {0, 0, 0};
  unsigned running = 0, total = 0;
  int lastPid = 0;
  int64_t lastRead = 0;     // monotonic seconds of the last /proc/loadavg read
  bool sampled = false;     // at least one sample taken
};

class Container {
 public:
  Container(ContainerData data, const CgroupMounts& mounts);

  const ContainerData& data() const { return data_; }
  // The text of a file of the container's cgroup (for the renderers' CgroupFiles).
  std::optional<std::string> cgroupFile(Hierarchy h, std::string_view name) const;
  // The host pids of the container's tasks (threads), from its cgroup.
  std::vector<pid_t> tasks() const;

  // Per-container /proc/sys values (path relative to /proc/sys → value as the kernel prints).
  std::optional<std::string> sysctl(std::string_view path) const;
  void setSysctl(std::string_view path, std::string value);
  std::map<std::string, std::string, std::less<>> sysctls() const;
  void setSysctls(std::map<std::string, std::string, std::less<>> values);

  LoadState& load() const { return load_; }

 private:
  ContainerData data_;
  // v1 controller name ("memory", "cpuacct") → its directory; the cgroup2 directory.
  std::map<std::string, UniqueFd, std::less<>> v1_;
  UniqueFd v2_;
  mutable FileCache v1Files_, v2Files_;
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> sysctls_;
  mutable LoadState load_;
};

// The registered containers. Readers take a snapshot (a shared pointer to an immutable map),
// writers replace it under the mutex; a Container stays alive while a reader holds it.
class ContainerTable {
 public:
  using Map = std::map<std::string, std::shared_ptr<Container>, std::less<>>;

  std::shared_ptr<const Map> snapshot() const;
  std::shared_ptr<Container> find(std::string_view id) const;
  // Adds or replaces; returns the replaced container, if any.
  std::shared_ptr<Container> put(std::shared_ptr<Container> c);
  std::shared_ptr<Container> remove(std::string_view id);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Map> map_ = std::make_shared<Map>();
};

// Parses "/proc/<pid>/stat"'s start time (field 22); nullopt when unreadable.
std::optional<uint64_t> processStartTicks(pid_t pid);

}  // namespace sv::fs
