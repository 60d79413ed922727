#include "base/sealed_exe.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <initializer_list>

namespace sv {
namespace {

bool runsReadOnly() {
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct statvfs vfs;
  bool ro = ::fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
  int seals = ::fcntl(fd, F_GET_SEALS);
  ::close(fd);
  return ro || (seals >= 0 && (seals & F_SEAL_WRITE));
}

// A detached clone of the mount of the binary file itself, made read-only.
int readOnlyBind() {
  int tree = static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (tree < 0) return -1;
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
    ::close(tree);
    return -1;
  }
  return tree;
}

int sealedCopy() {
  int src = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) return -1;
  int mem = ::memfd_create("sysvisor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  struct stat st;
  bool ok = mem >= 0 && ::fstat(src, &st) == 0;
  for (off_t left = ok ? st.st_size : 0; ok && left > 0;) {
    ssize_t n = ::sendfile(mem, src, nullptr, static_cast<size_t>(left));
    ok = n > 0;
    left -= n;
  }
  ::close(src);
  ok = ok && ::fcntl(mem, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0;
  if (!ok && mem >= 0) ::close(mem);
  return ok ? mem : -1;
}

}  // namespace

void reexecFromReadOnlyExe(char** argv) {
  if (runsReadOnly()) return;
  for (int (*make)() : {readOnlyBind, sealedCopy}) {
    int fd = make();
    if (fd < 0) continue;
    ::execveat(fd, "", argv, environ, AT_EMPTY_PATH);
    ::close(fd);
  }
  dprintf(STDERR_FILENO,
          "sysvisor: warning: cannot run from a read-only view of the binary (%m): a container "
          "without a user namespace could reach it through /proc/<pid>/exe\n");
}

}  // namespace sv
