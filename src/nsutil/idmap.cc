#include "nsutil/idmap.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "base/file_util.h"
#include "base/process.h"
#include "base/log.h"
#include "base/sys_error.h"

namespace sv::ns {

namespace {
UniqueFd cloneTree(const std::string& path, unsigned recursive) {
  return UniqueFd(SV_SYSCALL(
      static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(),
                                 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive)),
      "idmapped mount source '{}'", path));
}

// false with errno set when the filesystem refuses.
bool idmapTree(int tree, int userns, unsigned recursive) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  for (;;) {
    if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | recursive, &attr, sizeof attr) == 0)
      return true;
    if (errno != EINTR) return false;
  }
}

}  // namespace

UniqueFd makeUserNs(const std::string& uidMap, const std::string& gidMap) {
  // A child that only lives in the new user namespace until we hold an fd of it.
  int pipefd[2];
  SV_SYSCALL(::pipe2(pipefd, O_CLOEXEC), "pipe");
  UniqueFd readEnd(pipefd[0]), writeEnd(pipefd[1]);
  struct clone_args args {};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
  if (pid < 0) throwSysError(errno, "clone3", "user namespace for an idmapped mount");
  if (pid == 0) {
    char c;
    [[maybe_unused]] auto n = ::read(readEnd.get(), &c, 1);
    ::_exit(0);
  }
  ChildGuard guard(pid, UniqueFd());
  readEnd.reset();
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  writeFileAt(AT_FDCWD, path, uidMap);
  std::snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  writeFileAt(AT_FDCWD, path, gidMap);
  std::snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
  return UniqueFd(SV_SYSCALL(::open(path, O_RDONLY | O_CLOEXEC), "'{}'", path));
}

std::vector<UniqueFd> prepareIdmappedMounts(const LaunchPlan& plan, int planUserns) {
  std::vector<UniqueFd> trees(plan.mounts.size());
  std::map<std::string, UniqueFd> userns;  // by "uidmap|gidmap"
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    const PlannedMount& m = plan.mounts[i];
    if (m.kind != MountKind::kBind || m.uidMappings.empty()) continue;
    std::string uid = idMapText(m.uidMappings);
    std::string gid = idMapText(m.gidMappings.empty() ? m.uidMappings : m.gidMappings);
    int ns = planUserns;
    if (ns < 0 || uid != plan.uidMap || gid != plan.gidMap) {
      UniqueFd& made = userns[uid + "|" + gid];
      if (!made) made = makeUserNs(uid, gid);
      ns = made.get();
    }
    unsigned recursive = m.recursive ? AT_RECURSIVE : 0;
    UniqueFd tree = cloneTree(m.source, recursive);
    if (!idmapTree(tree.get(), ns, recursive)) {
      int err = errno;
      if (m.idmapIfSupported && (err == EINVAL || err == EOPNOTSUPP || err == EPERM)) {
        log::debug("'{}' on '{}': its filesystem cannot be idmapped ({}); bound as it is",
                   m.source, m.destination, std::strerror(err));
        continue;
      }
      throwSysError(err, "mount_setattr",
                    fmt::format("idmapping '{}' (does its filesystem support idmapped mounts?)",
                                m.source));
    }
    trees[i] = std::move(tree);
  }
  return trees;
}

std::optional<UniqueFd> tryIdmappedRootfs(const std::string& rootfs, int userns) {
  UniqueFd tree = cloneTree(rootfs, AT_RECURSIVE);
  if (idmapTree(tree.get(), userns, AT_RECURSIVE)) return tree;
  if (errno == EINVAL || errno == EOPNOTSUPP) return std::nullopt;
  throwSysError(errno, "mount_setattr", fmt::format("idmapping the rootfs '{}'", rootfs));
}

std::vector<UniqueFd> prepareDeviceNodes(const LaunchPlan& plan, uint32_t uidBase,
                                         uint32_t gidBase) {
  std::vector<UniqueFd> nodes(plan.devices.size());
  if (!plan.setupDev) return nodes;
  UniqueFd fs, mnt;
  for (size_t i = 0; i < plan.devices.size(); ++i) {
    const PlannedDevice& d = plan.devices[i];
    if (!d.bindFromHost) continue;
    if (!mnt) {
      fs = UniqueFd(SV_SYSCALL(static_cast<int>(::syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)),
                               "tmpfs for device nodes"));
      SV_SYSCALL(static_cast<int>(::syscall(SYS_fsconfig, fs.get(), FSCONFIG_SET_STRING, "mode",
                                            "0755", 0)),
                 "tmpfs for device nodes");
      SV_SYSCALL(static_cast<int>(
                     ::syscall(SYS_fsconfig, fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0)),
                 "tmpfs for device nodes");
      mnt = UniqueFd(SV_SYSCALL(
          static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID |
                                                                              MOUNT_ATTR_NOEXEC)),
          "tmpfs for device nodes"));
    }
    std::string name = std::to_string(i);
    SV_SYSCALL(::mknodat(mnt.get(), name.c_str(), d.mode, d.dev), "device '{}'", d.path);
    SV_SYSCALL(::fchownat(mnt.get(), name.c_str(), uidBase + d.uid, gidBase + d.gid,
                          AT_SYMLINK_NOFOLLOW),
               "device '{}'", d.path);
    // mknod applies the umask: the planned mode, exactly.
    SV_SYSCALL(::fchmodat(mnt.get(), name.c_str(), d.mode & 07777, 0), "device '{}'", d.path);
    nodes[i] = UniqueFd(SV_SYSCALL(
        static_cast<int>(::syscall(SYS_open_tree, mnt.get(), name.c_str(),
                                   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)),
        "device '{}'", d.path));
  }
  return nodes;
}

std::vector<FsBindTree> openFsBindTrees(const std::vector<FsBind>& binds) {
  std::vector<FsBindTree> out;
  out.reserve(binds.size());
  std::string dirPath;
  UniqueFd dir;
  for (const FsBind& b : binds) {
    // source is root + destination (planFsBinds): open root (once), then the rest beneath it.
    std::string root = b.source.substr(0, b.source.size() - b.destination.size());
    if (!dir || root != dirPath) {
      dir = UniqueFd(SV_SYSCALL(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC),
                                "sysvisor-fs subtree '{}'", root));
      dirPath = root;
    }
    int fd = sv::openat2(dir.get(), b.destination.c_str() + 1, O_PATH,
                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) throwSysError(errno, "openat2", fmt::format("sysvisor-fs file '{}'", b.source));
    UniqueFd file(fd);
    UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, file.get(), "",
                                             AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
    if (!tree) throwSysError(errno, "open_tree", fmt::format("sysvisor-fs file '{}'", b.source));
    struct mount_attr attr {};
    attr.attr_set = b.attrSet;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
      throwSysError(errno, "mount_setattr", fmt::format("nosuid,nodev,noexec on '{}'", b.source));
    out.push_back({b.destination, std::move(tree)});
  }
  return out;
}

}  // namespace sv::ns
