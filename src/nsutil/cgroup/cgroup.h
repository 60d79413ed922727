// The container's cgroup directories: where they are, creating them, placing the init,
// listing and removing. Resource limits (resources.h, one file per controller) write into the
// directories resolved here.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "nsutil/plan.h"

namespace sv::cg {

// The container's directory in every hierarchy (v1 controllers, name=systemd, and cgroup2).
// cgroupsPath as runc reads it with the cgroupfs driver: absolute = below each hierarchy's
// root; relative = below the runtime's own cgroup; empty = "<runtime's cgroup>/<id>".
// selfCgroup is the text of /proc/self/cgroup.
struct CgroupDir {
  std::string path;
  std::string origin;      // the runtime's own cgroup in that hierarchy
  std::string mountpoint;  // the hierarchy's root
  std::string controllers;  // "cpu,cpuacct", "name=systemd"; "" for cgroup2
  bool v2 = false;
};
std::vector<CgroupDir> resolvePaths(const std::vector<ns::CgroupHierarchy>& hierarchies,
                                    const std::string& cgroupsPath, const std::string& id,
                                    const std::string& selfCgroup);
// Refuses a cgroupsPath that resolves to a hierarchy's root or to the runtime's own cgroup:
// deleting the container would then touch processes that are not its own.
void refuseSharedRoots(const std::vector<CgroupDir>& dirs);
std::vector<std::string> pathsOf(const std::vector<CgroupDir>& dirs);
// Whether a space-separated controller list (cgroup.controllers, subtree_control) has name.
bool listed(const std::string& list, std::string_view name);

// The directory of the v1 hierarchy that has controller, or nullptr.
const CgroupDir* v1Dir(const std::vector<CgroupDir>& dirs, std::string_view controller);

// mkdir -p of every path (cpuset dirs get their parent's cpus and mems so tasks can join).
// Returns the directories it created, deepest last, for removal on failure.
std::vector<std::string> create(const std::vector<std::string>& paths);

// cgroup v2: makes the controllers available in dir. If its cgroup.controllers lacks any of
// them, writes every controller the hierarchy offers into cgroup.subtree_control of each
// ancestor from the root down (as runc and crun do, so stats find their files too). Refusals
// there (a parent with processes of its own) are ignored: the knob writes that follow name
// what is still missing.
void enableControllers(const CgroupDir& dir, const std::vector<std::string>& controllers);

// Moves pid into every path.
void attach(const std::vector<std::string>& paths, pid_t pid);

// Places the calling (single-threaded) process in the container's v1 cgroups for the length
// of a clone, so the child is born there, and moves it back afterwards. Moving one's own
// thread through "tasks" skips the threadgroup lock whose RCU grace period makes a
// cgroup.procs write of another process cost ~10 ms. The v2 directory is opened for
// clone3(CLONE_INTO_CGROUP) instead (v2Fd).
class BirthPlace {
 public:
  explicit BirthPlace(const std::vector<CgroupDir>& dirs);
  ~BirthPlace();  // moves back; never throws
  BirthPlace(const BirthPlace&) = delete;
  BirthPlace& operator=(const BirthPlace&) = delete;
  int v2Fd() const { return v2_.get(); }

 private:
  void leave() noexcept;
  const std::vector<CgroupDir>& dirs_;
  size_t entered_ = 0;
  UniqueFd v2_;
};

// Pids in the container's cgroup (from the first hierarchy that lists any).
std::vector<pid_t> procs(const std::vector<std::string>& paths);

// Removes the directories and any sub-cgroups created inside; missing ones are fine. Throws
// if a directory stays busy.
void destroy(const std::vector<std::string>& paths);

}  // namespace sv::cg
