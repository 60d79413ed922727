#include "nsutil/mounts.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <linux/mount.h>
#include <unistd.h>

#include <climits>
#include <sstream>
#include <string_view>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "nsutil/rootfs_path.h"

namespace sv::ns {

namespace {

void doMount(const char* source, const char* target, const char* type, unsigned long flags,
             const char* data, const std::string& what) {
  if (::mount(source, target, type, flags, data) != 0)
    throwSysError(errno, "mount", what);
}

// After a mount, the O_PATH fd of the target still names the covered directory; re-open the
// path to reach the new mount's root for remounts and propagation changes.
UniqueFd reopen(int rootfd, const std::string& dest) {
  auto fd = openInRoot(rootfd, dest, O_PATH);
  if (!fd) throwSysError(ENOENT, "openat2", fmt::format("'{}' after mounting it", dest));
  return std::move(*fd);
}

void applyPropagation(const std::vector<unsigned long>& propagation, int fd,
                      const std::string& dest) {
  char buf[64];
  for (unsigned long p : propagation)
    doMount(nullptr, fdPath(buf, fd), nullptr, p, nullptr,
            fmt::format("setting propagation of '{}'", dest));
}

void remountBind(int fd, unsigned long flags, const std::string& dest) {
  char buf[64];
  const char* path = fdPath(buf, fd);
  flags |= lockedFlags(path);
  doMount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | flags, nullptr,
          fmt::format("remounting '{}' with its options", dest));
}

// Files under /proc a mount may cover (lxcfs-style emulation), as runc allows. Anything else
// resolving into the container's procfs is refused (CVE-2019-16884 class: an image symlink
// that turns a bind mount into an over-mount of /proc/self/attr/...).
constexpr const char* kProcMountable[] = {
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo",   "/proc/stat",
    "/proc/swaps",   "/proc/uptime",    "/proc/loadavg",   "/proc/slabinfo",
    "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
};

void checkProcTarget(const PlannedMount& m, const LaunchPlan& plan, int destFd) {
  if (m.kind == MountKind::kFs && m.type == "proc") return;
  char link[PATH_MAX];
  char buf[64];
  ssize_t n = ::readlink(fdPath(buf, destFd), link, sizeof link - 1);
  if (n < 0) return;
  link[n] = '\0';
  std::string_view real(link);
  if (!real.starts_with(plan.rootfs)) return;
  real.remove_prefix(plan.rootfs.size());
  if (real != "/proc" && !real.starts_with("/proc/")) return;
  for (const char* allowed : kProcMountable)
    if (real == allowed) return;
  throw UserError(fmt::format(
      "mount destination \"{}\" resolves to \"{}\" inside the container's /proc, which only a "
      "proc mount or an emulated /proc file may cover",
      m.destination, real));
}

void applyRecursiveAttrs(const PlannedMount& m, int fd) {
  if (!m.recAttrSet && !m.recAttrClr) return;
  struct mount_attr attr {};
  attr.attr_set = m.recAttrSet;
  attr.attr_clr = m.recAttrClr;
  if (::syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    throwSysError(errno, "mount_setattr", fmt::format("recursive options on '{}'", m.destination));
}

struct OwnCgroup {
  std::string controllers;  // "cpu,cpuacct", "name=systemd", "" for v2
  std::string path;
};

std::vector<OwnCgroup> readOwnCgroups() {
  std::vector<OwnCgroup> out;
  std::istringstream in(readFile("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    out.push_back({line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

std::string ownPath(const std::vector<OwnCgroup>& own, const std::string& controllers) {
  for (const auto& c : own)
    if (c.controllers == controllers) return c.path;
  return "/";
}

void mountCgroupV1(const PlannedMount& m, const LaunchPlan& plan, int rootfd) {
  UniqueFd dest = ensureInRoot(rootfd, m.destination, true);
  char buf[64];
  unsigned long base = m.flags & ~MS_RDONLY;
  doMount("tmpfs", fdPath(buf, dest.get()), "tmpfs", base, "mode=755",
          fmt::format("tmpfs on '{}'", m.destination));
  UniqueFd dir = reopen(rootfd, m.destination);
  bool cgroupns = (plan.cloneFlags & CLONE_NEWCGROUP) != 0;
  std::vector<OwnCgroup> own;
  if (!cgroupns) own = readOwnCgroups();
  std::vector<std::string> mounted;
  for (const auto& h : plan.cgroupHierarchies) {
    std::string name = h.mountpoint.substr(h.mountpoint.rfind('/') + 1);
    if (h.v2 && name == "cgroup") name = "unified";
    std::string target = m.destination + "/" + name;
    UniqueFd t = ensureInRoot(rootfd, target, true);
    const char* tpath = fdPath(buf, t.get());
    if (cgroupns) {
      doMount(h.v2 ? "cgroup2" : "cgroup", tpath, h.v2 ? "cgroup2" : "cgroup", base,
              h.v2 ? nullptr : h.superOpts.c_str(), fmt::format("cgroup on '{}'", target));
    } else {
      std::string src = h.mountpoint + ownPath(own, h.v2 ? "" : h.superOpts);
      doMount(src.c_str(), tpath, nullptr, MS_BIND | MS_REC, nullptr,
              fmt::format("binding '{}' on '{}'", src, target));
    }
    mounted.push_back(target);
    // Co-mounted controllers ("cpu,cpuacct") get one symlink per controller, as on the host.
    if (name.find(',') != std::string::npos) {
      std::istringstream parts(name);
      std::string part;
      while (std::getline(parts, part, ','))
        if (::symlinkat(name.c_str(), dir.get(), part.c_str()) != 0 && errno != EEXIST)
          throwSysError(errno, "symlinkat", fmt::format("'{}/{}'", m.destination, part));
    }
  }
  if (m.flags & MS_RDONLY) {
    for (const auto& target : mounted) remountBind(reopen(rootfd, target).get(), base | MS_RDONLY, target);
    remountBind(reopen(rootfd, m.destination).get(), base | MS_RDONLY, m.destination);
  }
}

void mountCgroupV2(const PlannedMount& m, const LaunchPlan& plan, int rootfd) {
  UniqueFd dest = ensureInRoot(rootfd, m.destination, true);
  char buf[64];
  if (plan.cloneFlags & CLONE_NEWCGROUP) {
    doMount("cgroup2", fdPath(buf, dest.get()), "cgroup2", m.flags, nullptr,
            fmt::format("cgroup2 on '{}'", m.destination));
  } else {
    std::string src = "/sys/fs/cgroup" + ownPath(readOwnCgroups(), "");
    doMount(src.c_str(), fdPath(buf, dest.get()), nullptr, MS_BIND | MS_REC, nullptr,
            fmt::format("binding '{}' on '{}'", src, m.destination));
    if (m.flags & MS_RDONLY)
      remountBind(reopen(rootfd, m.destination).get(), m.flags, m.destination);
  }
}

}  // namespace

unsigned long lockedFlags(const char* path) noexcept {
  struct statvfs st;
  if (::statvfs(path, &st) != 0) return 0;
  unsigned long out = 0;
  if (st.f_flag & ST_NOSUID) out |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) out |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) out |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) out |= MS_RELATIME;
  return out;
}

std::vector<UniqueFd> openBindSources(const LaunchPlan& plan) {
  std::vector<UniqueFd> fds;
  fds.reserve(plan.mounts.size());
  for (const auto& m : plan.mounts) {
    if (m.kind != MountKind::kBind || !m.uidMappings.empty()) {
      fds.emplace_back();
      continue;
    }
    fds.emplace_back(SV_SYSCALL(::open(m.source.c_str(), O_PATH | O_CLOEXEC),
                                "bind mount source '{}'", m.source));
  }
  return fds;
}

void setupMounts(const LaunchPlan& plan, int rootfd, const std::vector<UniqueFd>& sources,
                 const std::vector<int>& trees, size_t first, size_t last) {
  char buf[64], srcbuf[64];
  for (size_t i = first; i < last && i < plan.mounts.size(); ++i) {
    const PlannedMount& m = plan.mounts[i];
    switch (m.kind) {
      case MountKind::kCgroupV1: mountCgroupV1(m, plan, rootfd); continue;
      case MountKind::kCgroupV2: mountCgroupV2(m, plan, rootfd); continue;
      case MountKind::kBind: {
        UniqueFd dest = ensureInRoot(rootfd, m.destination, m.sourceIsDir);
        checkProcTarget(m, plan, dest.get());
        if (i < trees.size() && trees[i] >= 0) {
          if (::syscall(SYS_move_mount, trees[i], "", dest.get(), "",
                        MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
            throwSysError(errno, "move_mount",
                          fmt::format("idmapped '{}' on '{}'", m.source, m.destination));
        } else {
          doMount(fdPath(srcbuf, sources[i].get()), fdPath(buf, dest.get()), nullptr,
                  MS_BIND | (m.recursive ? MS_REC : 0), nullptr,
                  fmt::format("binding '{}' on '{}'", m.source, m.destination));
        }
        if (m.remount || !m.propagation.empty() || m.recAttrSet || m.recAttrClr) {
          UniqueFd mounted = reopen(rootfd, m.destination);
          if (m.remount) remountBind(mounted.get(), m.flags & ~(MS_REC | MS_REMOUNT), m.destination);
          applyRecursiveAttrs(m, mounted.get());
          applyPropagation(m.propagation, mounted.get(), m.destination);
        }
        continue;
      }
      case MountKind::kFs: {
        UniqueFd dest = ensureInRoot(rootfd, m.destination, true);
        checkProcTarget(m, plan, dest.get());
        doMount(m.source.c_str(), fdPath(buf, dest.get()), m.type.c_str(), m.flags,
                m.data.empty() ? nullptr : m.data.c_str(),
                fmt::format("{} on '{}'", m.type, m.destination));
        if (!m.propagation.empty() || m.recAttrSet || m.recAttrClr) {
          UniqueFd mounted = reopen(rootfd, m.destination);
          applyRecursiveAttrs(m, mounted.get());
          applyPropagation(m.propagation, mounted.get(), m.destination);
        }
        continue;
      }
    }
  }
}

std::vector<std::string> mountFsBinds(const LaunchPlan& plan, int rootfd,
                                      const std::vector<FsBindTree>& binds) {
  std::vector<std::string> skipped;
  const std::string rootfs = plan.rootfs == "/" ? "" : plan.rootfs;
  char buf[64];
  for (const FsBindTree& b : binds) {
    // Never created: below the container's own procfs and sysfs nothing can be.
    std::optional<UniqueFd> dest = openInRoot(rootfd, b.destination, O_PATH);
    if (!dest) {
      skipped.push_back(b.destination);
      continue;
    }
    // Emulated files go exactly where they say: not through a symlink (an image whose /sys is
    // a link elsewhere, a /proc entry that points into a process's directory).
    char link[PATH_MAX];
    ssize_t n = ::readlink(fdPath(buf, dest->get()), link, sizeof link - 1);
    if (n < 0) throwSysError(errno, "readlink", fmt::format("'{}'", b.destination));
    link[n] = '\0';
    if (rootfs + b.destination != link)
      throw UserError(fmt::format("the emulated \"{}\" would be mounted on \"{}\": its path in "
                                  "the container is a symlink (not mounted there)",
                                  b.destination, link));
    if (::syscall(SYS_move_mount, b.tree.get(), "", dest->get(), "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
      throwSysError(errno, "move_mount", fmt::format("sysvisor-fs's '{}'", b.destination));
  }
  return skipped;
}

void setupDevices(const LaunchPlan& plan, int rootfd, const std::vector<int>& nodes) {
  if (!plan.setupDev) return;
  char buf[64];
  // Devices mostly share one parent (/dev): resolve it once, not once per node.
  std::string dirPath;
  UniqueFd dir;
  for (size_t i = 0; i < plan.devices.size(); ++i) {
    const PlannedDevice& d = plan.devices[i];
    if (i < nodes.size() && nodes[i] >= 0) {
      UniqueFd target = ensureInRoot(rootfd, d.path, false);
      if (::syscall(SYS_move_mount, nodes[i], "", target.get(), "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        throwSysError(errno, "move_mount", fmt::format("device '{}'", d.path));
      continue;
    }
    if (d.bindFromHost) {
      // mknod is refused inside a user namespace: bind the host's node instead.
      UniqueFd target = ensureInRoot(rootfd, d.path, false);
      doMount(d.path.c_str(), fdPath(buf, target.get()), nullptr, MS_BIND, nullptr,
              fmt::format("binding device '{}'", d.path));
      continue;
    }
    std::string parent = d.path.substr(0, d.path.rfind('/'));
    std::string name = d.path.substr(d.path.rfind('/') + 1);
    if (parent.empty()) parent = "/";
    if (!dir || parent != dirPath) {
      dir = ensureInRoot(rootfd, parent, true);
      dirPath = parent;
    }
    if (::mknodat(dir.get(), name.c_str(), d.mode, d.dev) != 0) {
      if (errno != EEXIST) throwSysError(errno, "mknod", fmt::format("'{}'", d.path));
      ::unlinkat(dir.get(), name.c_str(), 0);
      SV_SYSCALL(::mknodat(dir.get(), name.c_str(), d.mode, d.dev), "'{}'", d.path);
    }
    SV_SYSCALL(::fchownat(dir.get(), name.c_str(), d.uid, d.gid, AT_SYMLINK_NOFOLLOW), "'{}'",
               d.path);
  }
  UniqueFd dev = ensureInRoot(rootfd, "/dev", true);
  UniqueFd devDir(SV_SYSCALL(::openat(dev.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "/dev"));
  struct Link {
    const char* name;
    const char* target;
  };
  static constexpr Link kLinks[] = {{"fd", "/proc/self/fd"},
                                    {"stdin", "/proc/self/fd/0"},
                                    {"stdout", "/proc/self/fd/1"},
                                    {"stderr", "/proc/self/fd/2"}};
  for (const auto& l : kLinks)
    if (::symlinkat(l.target, devDir.get(), l.name) != 0 && errno != EEXIST)
      throwSysError(errno, "symlinkat", fmt::format("'/dev/{}'", l.name));
  if (::access("/proc/kcore", F_OK) == 0 && ::symlinkat("/proc/kcore", devDir.get(), "core") != 0 &&
      errno != EEXIST)
    throwSysError(errno, "symlinkat", "'/dev/core'");
  // /dev/ptmx must be the devpts multiplexer of the container's own devpts instance.
  struct stat st;
  if (::fstatat(devDir.get(), "ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0)
    ::unlinkat(devDir.get(), "ptmx", 0);
  SV_SYSCALL(::symlinkat("pts/ptmx", devDir.get(), "ptmx"), "'/dev/ptmx'");
}

}  // namespace sv::ns
