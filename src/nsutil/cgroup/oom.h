// Notice of OOM kills in a container's memory cgroup, as an fd to poll: v1 registers an
// eventfd for memory.oom_control through cgroup.event_control; v2 watches memory.events
// with inotify and counts oom_kill.
#pragma once

#include <cstdint>
#include <string>

#include "base/unique_fd.h"

namespace sv::cg {

class OomWatch {
 public:
  // dir: the memory hierarchy's container directory (v1) or the cgroup2 directory (v2).
  OomWatch(const std::string& dir, bool v2);
  int fd() const { return fd_.get(); }
  // Consumes what made fd() readable; true if the cgroup saw an OOM since the last call
  // (v1: also wakes when the cgroup is removed, which is not an OOM). Never blocks.
  bool takeOom();

 private:
  std::string dir_;
  bool v2_;
  UniqueFd fd_;
  UniqueFd target_;        // v1: memory.oom_control, open for the registration's lifetime
  uint64_t oomKills_ = 0;  // v2: memory.events oom_kill seen so far
};

// The oom_kill count of a v2 memory.events text.
uint64_t oomKillCount(const std::string& memoryEvents);

}  // namespace sv::cg
