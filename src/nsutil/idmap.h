// Idmapped mounts: a detached clone of a host directory whose ids are shifted through a user
// namespace (open_tree + mount_setattr(MOUNT_ATTR_IDMAP)). Prepared by the runtime on the
// host side, where it has CAP_SYS_ADMIN over the filesystem; the init then moves the tree
// into place.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "nsutil/mounts.h"
#include "nsutil/plan.h"

namespace sv::ns {

// A user namespace with the given maps ("0 100000 65536\n" lines), held by an fd.
UniqueFd makeUserNs(const std::string& uidMap, const std::string& gidMap);

// One fd per plan.mounts entry: a detached idmapped tree for binds that carry uidMappings,
// an invalid fd otherwise.
// Binds marked idmapIfSupported whose filesystem refuses idmapping get an invalid fd (a plain
// bind) and a debug log line. planUserns: a user namespace with the plan's own maps (made once
// per create, see makeUserNs), used for binds with those maps instead of making another.
std::vector<UniqueFd> prepareIdmappedMounts(const LaunchPlan& plan, int planUserns = -1);

// A detached clone of the rootfs (with its submounts) idmapped through userns (the
// container's maps), so image files owned by host root show as root inside; nullopt when the
// filesystem refuses idmapped mounts (an old kernel, NFS, FUSE, a directory inside an overlay):
// the caller falls back to chown.
std::optional<UniqueFd> tryIdmappedRootfs(const std::string& rootfs, int userns);

// Device nodes for a new user namespace, where mknod is refused and the host's own nodes keep
// their host owners and modes (/dev/fuse is 0600 root): each plan.devices entry that would be
// bound from the host is made instead on a private tmpfs the runtime mounts (detached, in the
// host's user namespace, so the nodes work), owned by uidBase+uid:gidBase+gid with the
// planned mode, and handed over as a detached tree. Devices not bound from the host get -1.
// The tmpfs lives as long as a node is mounted somewhere.
std::vector<UniqueFd> prepareDeviceNodes(const LaunchPlan& plan, uint32_t uidBase,
                                         uint32_t gidBase);

// sysvisor-fs's files as detached plain binds with their attributes (see planFsBinds), opened
// on the host side, where the daemon's mount is reachable whatever the container's root may
// walk to. Each source is resolved below the daemon's subtree without following symlinks.
std::vector<FsBindTree> openFsBindTrees(const std::vector<FsBind>& binds);

}  // namespace sv::ns
