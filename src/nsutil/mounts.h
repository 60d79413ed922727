// Mount setup inside the container's mount namespace, before pivot_root.
#pragma once

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "nsutil/plan.h"

namespace sv::ns {

// Opens (O_PATH) every bind-mount source, one fd per plan.mounts entry (-1 for non-binds).
// Called while the init still has the host's credentials, so sources the container's root
// could not walk to (0710 dirs) can still be bound.
std::vector<UniqueFd> openBindSources(const LaunchPlan& plan);

// Mounts plan.mounts[first, last) under the rootfs (rootfd), in order. trees[i] >= 0: a
// detached (idmapped) tree prepared by the runtime, moved into place instead of a bind.
void setupMounts(const LaunchPlan& plan, int rootfd, const std::vector<UniqueFd>& sources,
                 const std::vector<int>& trees, size_t first, size_t last);

// A sysvisor-fs file or directory as the runtime opened it on the host (openFsBindTrees in
// idmap.h), for the init to move over its path in the container.
struct FsBindTree {
  std::string destination;
  UniqueFd tree;
};

// Moves each tree over its destination inside the rootfs, in order. A destination the
// container does not have (procfs and sysfs cannot grow a missing entry) is not bound and is
// returned; one that resolves anywhere but at its own path inside the rootfs is refused.
std::vector<std::string> mountFsBinds(const LaunchPlan& plan, int rootfd,
                                      const std::vector<FsBindTree>& binds);

// Device nodes and the standard /dev symlinks (when plan.setupDev).
// nodes: per plan.devices entry, a detached node the runtime made (see prepareDeviceNodes), or
// -1 (mknod here, or a bind of the host's node).
void setupDevices(const LaunchPlan& plan, int rootfd, const std::vector<int>& nodes);

// Mount flags that a remount inside a user namespace must keep (the kernel locks them).
unsigned long lockedFlags(const char* path) noexcept;

}  // namespace sv::ns
