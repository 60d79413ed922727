// The engine's id view: its mount, its server process, and `sysvisor idview` (the server
// itself is id_view.cc).
#include "fusefs/id_view.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

#include "base/process.h"
#include "base/sys_error.h"
#include "nsutil/mount_api.h"

namespace sv::fs {

namespace {

constexpr int kFuseFd = 3, kRootFd = 4;

[[noreturn]] void serverMain(int fuseFd, int rootFd, const IdShift& shift) noexcept {
  becomeDetachedHelper("sv-idview");
  // Only the view's two fds stay open: above all, none of the runtime's pipes, whose readers
  // (the shim) wait for their end.
  int f = ::fcntl(fuseFd, F_DUPFD_CLOEXEC, 100), r = ::fcntl(rootFd, F_DUPFD_CLOEXEC, 100);
  if (f < 0 || r < 0 || ::dup2(f, kFuseFd) < 0 || ::dup2(r, kRootFd) < 0) ::_exit(1);
  ::syscall(SYS_close_range, kRootFd + 1, ~0U, 0);
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) ::_exit(1);
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
  ::close(null);
  ::_exit(serveIdView(kFuseFd, kRootFd, shift));
}

}  // namespace

UniqueFd mountIdView(int fuseFd) {
  UniqueFd fs(SV_SYSCALL(static_cast<int>(::syscall(SYS_fsopen, "fuse", FSOPEN_CLOEXEC)),
                         "id view: fsopen fuse (is the fuse module loaded?)"));
  const std::string what = "the id view's FUSE mount";
  std::string fd = std::to_string(fuseFd);
  for (auto [key, value] : {std::pair{"source", kIdViewSource}, {"fd", fd.c_str()},
                            {"rootmode", "40000"}, {"user_id", "0"}, {"group_id", "0"}})
    ns::fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value, what);
  ns::fsconfig(fs.get(), FSCONFIG_SET_FLAG, "default_permissions", nullptr, what);
  ns::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, what);
  return UniqueFd(SV_SYSCALL(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC,
                                                        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)),
                             "id view: fsmount"));
}

IdViewProcess startIdView(int rootTree, const IdShift& shift) {
  // The server's own clone of the mount: the container attaches rootTree's mount in its
  // namespace and mounts /proc, /dev, volumes on it; a clone has none of them.
  UniqueFd clone(SV_SYSCALL(
      static_cast<int>(::syscall(SYS_open_tree, rootTree, "",
                                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)),
      "id view: cloning the rootfs mount"));
  // The server reads and writes files, never runs or opens them as devices.
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
  SV_SYSCALL(::syscall(SYS_mount_setattr, clone.get(), "", AT_EMPTY_PATH, &attr, sizeof attr),
             "id view: restricting its clone of the rootfs mount");
  UniqueFd fuse(SV_SYSCALL(::open("/dev/fuse", O_RDWR | O_CLOEXEC), "id view: '/dev/fuse'"));
  IdViewProcess p;
  p.mount = mountIdView(fuse.get());
  p.pid = SV_SYSCALL(::fork(), "starting the id view server");
  if (p.pid == 0) serverMain(fuse.get(), clone.get(), shift);
  auto ps = readProcStat(p.pid);
  p.startTime = ps ? ps->startTime : 0;
  return p;
}

int idViewMain(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr,
                 "usage: sysvisor idview <dir> <mountpoint> <uid base> <gid base> <size>\n");
    return 2;
  }
  try {
    IdShift shift{static_cast<uint32_t>(std::stoul(argv[3])),
                  static_cast<uint32_t>(std::stoul(argv[4])),
                  static_cast<uint32_t>(std::stoul(argv[5]))};
    UniqueFd root(SV_SYSCALL(::open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC), "'{}'", argv[1]));
    UniqueFd fuse(SV_SYSCALL(::open("/dev/fuse", O_RDWR | O_CLOEXEC), "'/dev/fuse'"));
    UniqueFd mnt = mountIdView(fuse.get());
    SV_SYSCALL(::syscall(SYS_move_mount, mnt.get(), "", AT_FDCWD, argv[2],
                         MOVE_MOUNT_F_EMPTY_PATH),
               "id view onto '{}'", argv[2]);
    mnt.reset();
    return serveIdView(fuse.get(), root.get(), shift);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sysvisor idview: %s\n", e.what());
    return 1;
  }
}

}  // namespace sv::fs
