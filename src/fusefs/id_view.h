// The engine's id-shifting view of a running system container's rootfs (issue 5).
//
// A system container's overlay shows its files with host ids in the container's range (its
// lower layers are idmapped, its upper dir is shifted), and the kernel cannot idmap an overlay
// mount, so one overlay shows one set of ids. Docker reads a running container through the
// mount at ".../<id>/merged" (`docker diff`, `docker cp` both ways, `docker export`): with our
// overlay there every file looked changed, copies out carried the range's ids and copies in
// were owned by host root, i.e. nobody inside. So the container keeps the overlay (as its root
// tree, attached in its own mount namespace) and "merged" gets this view of the same overlay
// superblock instead: a FUSE passthrough that shows ids 0-based (IdShift, id_view_map.h) and
// maps every id the engine writes into the range. Same superblock underneath, so the view and
// the container see each other's writes at once (entry and attribute timeouts of 1 ms).
//
// The server is a small process forked by the runtime at create (like the console relay): it
// serves until the view is unmounted (the engine's unmount at stop, or the runtime's delete)
// and then exits. Only root of the host's user namespace can use the view (user_id=0, no
// allow_other); it is nosuid,nodev. The server does every operation as host root on fds of a
// private clone of the overlay mount (the container's own submounts, /proc, volumes, are not
// in it), relative to the parent's fd with O_NOFOLLOW: a symlink in the container never leads
// it anywhere.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "base/unique_fd.h"
#include "fusefs/id_view_map.h"

namespace sv::fs {

// The name the view's mounts carry in mountinfo's source field: how delete tells our view from
// whatever else may be mounted on the path.
inline constexpr const char* kIdViewSource = "sysvisor-idview";

struct IdViewProcess {
  UniqueFd mount;  // the view, detached (fsmount): the caller moves it into place
  pid_t pid = 0;
  uint64_t startTime = 0;  // /proc/<pid>/stat field 22
};

// Mounts a FUSE view (detached) and forks its server over rootTree, a directory fd (the
// server keeps its own clone of the mount rootTree is on, see above). Throws SysError; on
// failure nothing is left (the server, if forked, sees its mount go and exits).
IdViewProcess startIdView(int rootTree, const IdShift& shift);

// Serves a view in the calling process until the mount goes (the server's main, and a test
// entry point: `sysvisor idview`). fuseFd is an open /dev/fuse whose mount exists; root is
// the directory shown. Returns 0, or 1 after printing why to stderr.
int serveIdView(int fuseFd, int root, const IdShift& shift);

// The detached FUSE mount for fuseFd (what startIdView mounts). Throws SysError.
UniqueFd mountIdView(int fuseFd);

// `sysvisor idview <dir> <mountpoint> <uid base> <gid base> <size>`: mounts the view of dir on
// mountpoint and serves it in the foreground (for tests and debugging).
int idViewMain(int argc, char** argv);

}  // namespace sv::fs
