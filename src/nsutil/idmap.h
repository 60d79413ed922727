// Idmapped mounts: a detached clone of a host directory whose ids are shifted through a user
// namespace (open_tree + mount_setattr(MOUNT_ATTR_IDMAP)). Prepared by the runtime on the
// host side, where it has CAP_SYS_ADMIN over the filesystem; the init then moves the tree
// into place.
#pragma once

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "nsutil/plan.h"

namespace sv::ns {

// A user namespace with the given maps ("0 100000 65536\n" lines), held by an fd.
UniqueFd makeUserNs(const std::string& uidMap, const std::string& gidMap);

// One fd per plan.mounts entry: a detached idmapped tree for binds that carry uidMappings,
// an invalid fd otherwise.
// Binds marked idmapIfSupported whose filesystem refuses idmapping get an invalid fd (a plain
// bind) and a debug log line.
std::vector<UniqueFd> prepareIdmappedMounts(const LaunchPlan& plan);

// A detached clone of the rootfs (with its submounts) idmapped through the container's user
// namespace maps ("0 100000 65536\n" lines), so image files owned by host root show as root
// inside. Throws a UserError naming the filesystem when it cannot be idmapped.
UniqueFd prepareIdmappedRootfs(const std::string& rootfs, const std::string& uidMap,
                               const std::string& gidMap);

}  // namespace sv::ns
