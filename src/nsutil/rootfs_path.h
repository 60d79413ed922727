// Resolving paths inside a container's rootfs without letting symlinks in the image lead out
// of it (CVE-2021-30465 class): every lookup is openat2(RESOLVE_IN_ROOT) from the rootfs fd.
#pragma once

#include <optional>
#include <string>

#include "base/unique_fd.h"

namespace sv::ns {

// Opens path (absolute, relative to the rootfs) inside the rootfs; nullopt if it is missing.
std::optional<UniqueFd> openInRoot(int rootfd, const std::string& path, int flags);

// Opens (O_PATH) the mount target path inside the rootfs, creating missing directories and,
// when isDir is false, an empty file as the last component. Never follows a symlink out of
// the rootfs.
UniqueFd ensureInRoot(int rootfd, const std::string& path, bool isDir);

// "/proc/self/fd/<fd>" in a caller-provided buffer (no allocation).
const char* fdPath(char (&buf)[64], int fd);

}  // namespace sv::ns
