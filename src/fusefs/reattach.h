// Recovery when the FUSE connection itself died (the daemon and its fd holder were both
// killed): the container's binds of the dead mount are replaced, inside its mount namespace,
// by binds of the new one — attached beneath each dead mount first (MOVE_MOUNT_BENEATH, kernel
// 6.5), then the dead one detached, so no reader ever sees the host's real file in between.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sv::fs {

struct ReattachResult {
  unsigned replaced = 0;  // dead binds replaced by live ones
  unsigned alive = 0;     // binds that still worked (left alone)
};

// Daemon side: clones root + path of the live mount for every path and has the helper
// (`self nsexec --reattach`) put them in place in initPid's mount namespace. Throws SysError.
ReattachResult reattach(const std::string& self, pid_t initPid, const std::string& root,
                        const std::vector<std::string>& paths);

// Helper side (single-threaded): argv "--pid P --reattach PATH..." with the trees at fd 3...
[[noreturn]] void reattachMain(int argc, char** argv);

}  // namespace sv::fs
