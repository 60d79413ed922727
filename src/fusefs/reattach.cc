#include "fusefs/reattach.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "base/sys_error.h"
#include "base/unique_fd.h"

extern char** environ;

namespace sv::fs {
namespace {

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif
constexpr int kFirstTreeFd = 3;

// A detached bind of path with /proc's flags, as the runtime made the first one.
UniqueFd cloneTree(const std::string& path) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(),
                                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!fd) return fd;
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  if (::syscall(SYS_mount_setattr, fd.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    return UniqueFd();
  return fd;
}

}  // namespace

ReattachResult reattach(const std::string& self, pid_t initPid, const std::string& root,
                        const std::vector<std::string>& paths) {
  std::vector<UniqueFd> trees;
  std::vector<std::string> dests;
  for (const std::string& p : paths) {
    if (UniqueFd t = cloneTree(root + p)) {
      trees.push_back(std::move(t));
      dests.push_back(p);
    }
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (size_t i = 0; i < trees.size(); ++i)
    posix_spawn_file_actions_adddup2(&fa, trees[i].get(), kFirstTreeFd + static_cast<int>(i));
  std::string pid = std::to_string(initPid);
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), const_cast<char*>("nsexec"),
                             const_cast<char*>("--pid"), pid.data(),
                             const_cast<char*>("--reattach")};
  for (auto& d : dests) argv.push_back(d.data());
  argv.push_back(nullptr);
  // Its exit status reports: replaced count * 256 would not fit; it writes "replaced alive".
  int out[2];
  SV_SYSCALL(::pipe2(out, O_CLOEXEC), "reattach pipe");
  UniqueFd rd(out[0]), wr(out[1]);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), STDOUT_FILENO);
  pid_t child = 0;
  int rc = ::posix_spawn(&child, self.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throwSysError(rc, "posix_spawn", self + " nsexec --reattach");
  wr.reset();
  char buf[64] = {};
  ssize_t n = 0;
  while ((n = ::read(rd.get(), buf, sizeof buf - 1)) < 0 && errno == EINTR) {
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) throwSysError(EIO, "nsexec --reattach", pid);
  if (int err = WEXITSTATUS(status)) throwSysError(err, "nsexec --reattach", pid);
  ReattachResult r;
  if (n > 0) std::sscanf(buf, "%u %u", &r.replaced, &r.alive);
  return r;
}

namespace {

int reattachIn(int argc, char** argv) {
  pid_t pid = 0;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--pid" && i + 1 < argc) {
      pid = static_cast<pid_t>(std::atoi(argv[++i]));
    } else if (a != "--reattach") {
      paths.emplace_back(a);
    }
  }
  if (pid <= 0) return EINVAL;
  ::prctl(PR_SET_DUMPABLE, 0);
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/mnt";
  UniqueFd mnt(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!mnt) return errno == ENOENT ? ESRCH : errno;
  // Only the mount namespace: paths now resolve from the container's root, and host root's
  // privileges stay (the container's user namespace is not entered).
  if (::setns(mnt.get(), CLONE_NEWNS) != 0) return errno;
  unsigned replaced = 0, alive = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    int tree = kFirstTreeFd + static_cast<int>(i);
    const char* dest = paths[i].c_str();
    struct statfs sfs;
    // Only our dead mounts are replaced: they alone answer ENOTCONN. statfs, unlike stat,
    // always asks the file system (stat may answer from cached attributes).
    if (::statfs(dest, &sfs) == 0 || errno != ENOTCONN) {
      ++alive;
      ::close(tree);
      continue;
    }
    if (::syscall(SYS_move_mount, tree, "", AT_FDCWD, dest,
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) != 0)
      return errno;
    ::close(tree);
    if (::umount2(dest, MNT_DETACH) != 0) return errno;
    ++replaced;
  }
  dprintf(STDOUT_FILENO, "%u %u\n", replaced, alive);
  return 0;
}

}  // namespace

void reattachMain(int argc, char** argv) {
  // _exit, not a return through exit(): the helper is non-dumpable and sees the container's
  // /proc (another pid namespace), where nothing run at exit may inspect it (LeakSanitizer's
  // exit check ptraces its own threads through /proc/<pid>/task and spun forever here). Its
  // output is written unbuffered.
  ::_exit(reattachIn(argc, argv));
}

}  // namespace sv::fs
