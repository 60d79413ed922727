// Mount setup inside the container's mount namespace, before pivot_root.
#pragma once

#include <vector>

#include "base/unique_fd.h"
#include "nsutil/plan.h"

namespace sv::ns {

// Opens (O_PATH) every bind-mount source, one fd per plan.mounts entry (-1 for non-binds).
// Called while the init still has the host's credentials, so sources the container's root
// could not walk to (0710 dirs) can still be bound.
std::vector<UniqueFd> openBindSources(const LaunchPlan& plan);

// Mounts everything in plan.mounts under the rootfs (rootfd), in order. trees[i] >= 0: a
// detached (idmapped) tree prepared by the runtime, moved into place instead of a bind.
void setupMounts(const LaunchPlan& plan, int rootfd, const std::vector<UniqueFd>& sources,
                 const std::vector<int>& trees);

// Device nodes and the standard /dev symlinks (when plan.setupDev).
// nodes: per plan.devices entry, a detached node the runtime made (see prepareDeviceNodes), or
// -1 (mknod here, or a bind of the host's node).
void setupDevices(const LaunchPlan& plan, int rootfd, const std::vector<int>& nodes);

// Mount flags that a remount inside a user namespace must keep (the kernel locks them).
unsigned long lockedFlags(const char* path) noexcept;

}  // namespace sv::ns
