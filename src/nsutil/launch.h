// Parent side of starting a container init: clone into the namespaces, write id maps, and
// wait until the init is set up and blocked on the exec FIFO.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/unique_fd.h"
#include "nsutil/mounts.h"
#include "nsutil/plan.h"

namespace sv::ns {

struct Launched {
  ChildGuard init;  // killed and reaped if the caller fails before releasing it
  UniqueFd ptyMaster;  // plan.terminal: the master of the process's pty
  std::vector<std::string> skippedFsBinds;  // plan.fsBinds: paths the container does not have
};

// What the runtime does at the points where the init waits for it.
struct LaunchCallbacks {
  // Right after the clone, in the parent (e.g. to leave the cgroups the init was born in).
  std::function<void()> afterClone;
  // plan.hooksSync: the init (pid) has its namespaces and mounts and has not pivoted yet.
  // Runs the runtime's own hooks, then returns a memfd holding the state texts for the
  // init's createContainer and startContainer hooks, separated by a NUL. Throwing fails the
  // launch (the init is killed).
  std::function<UniqueFd(pid_t)> onHooks;
  // The init loaded a seccomp filter with SCMP_ACT_NOTIFY rules: its listener fd, for the
  // seccomp agent. Throwing fails the launch.
  std::function<void(pid_t, UniqueFd)> onSeccompListener;
  // plan.fsBinds: the init (pid) is in its namespaces and cgroups and has mounted nothing yet.
  // Registers it with sysvisor-fs and returns the emulated files to mount. Throwing fails the
  // launch (the init is killed).
  std::function<std::vector<FsBindTree>(pid_t)> onFsBinds;
};

// execFifoFd: an O_PATH fd of the exec FIFO the init opens for writing before exec; -1 means
// exec at once (no create/start split). cgroupV2Fd: the container's cgroup2 directory for
// CLONE_INTO_CGROUP, or -1 (v1 cgroups are entered by the caller, see cg::BirthPlace).
// Detached trees the runtime prepared on the host side, moved into place by the init.
struct MountTrees {
  std::vector<int> mounts;   // per plan.mounts entry: an idmapped bind, or -1
  int rootfs = -1;           // an idmapped clone of the rootfs, or -1 (a bind of it)
  std::vector<int> devices;  // per plan.devices entry: a node made on the host side, or -1
};

// Throws UserError with the child's message.
Launched launchInit(const LaunchPlan& plan, int execFifoFd, int cgroupV2Fd,
                    const MountTrees& trees, const LaunchCallbacks& callbacks = {});

// The fds the init keeps from the runtime.
struct InitFds {
  int sync = -1;
  int execFifo = -1;
  const MountTrees* trees = nullptr;
};

// Closes the runtime's fds in a freshly cloned child (all but fds' own and the preserved
// ones), makes it non-dumpable and ties its life to the runtime until it is ready.
void sealChild(const LaunchPlan& plan, const InitFds& fds) noexcept;

// The child's entry, used by launchInit (exposed for the intermediate process).
// fastPath: the init was cloned straight into its namespaces and waits for kGo when the
// parent writes its id maps; otherwise an intermediate did all that.
[[noreturn]] void childMain(const LaunchPlan& plan, const InitFds& fds, bool fastPath) noexcept;

}  // namespace sv::ns
