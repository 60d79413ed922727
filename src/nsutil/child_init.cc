// The container init: runs in the new namespaces, sets up the rootfs from the launch plan,
// pivots into it, drops to the process's user and capabilities, waits on the exec FIFO and
// execs. Nothing here may throw past childMain, and nothing after pivot_root allocates.
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "base/file_util.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "nsutil/launch.h"
#include "nsutil/mounts.h"
#include "nsutil/rootfs_path.h"
#include "nsutil/sync.h"

namespace sv::ns {

namespace {

// Reports a failure to the parent and exits; used after pivot_root where nothing allocates.
[[noreturn]] void fail(int syncFd, int err, const char* format, ...) noexcept
    __attribute__((format(printf, 3, 4)));
[[noreturn]] void fail(int syncFd, int err, const char* format, ...) noexcept {
  char msg[900];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(msg, sizeof msg, format, ap);
  va_end(ap);
  char full[1000];
  if (err) {
    // Go's wording ("permission denied", not "Permission denied"), as runc reports it:
    // Docker and containerd match these words to pick the exit code (126/127) they show.
    int n = std::snprintf(full, sizeof full, "%s: %s", msg, std::strerror(err));
    size_t at = std::strlen(msg) + 2;
    if (n > 0 && at < sizeof full) full[at] = static_cast<char>(std::tolower(full[at]));
  } else {
    std::snprintf(full, sizeof full, "%s", msg);
  }
  syncSend(syncFd, SyncType::kError, err, 0, full);
  ::_exit(1);
}


void pivot(const LaunchPlan& plan, int rootfd) {
  SV_SYSCALL(::fchdir(rootfd), "into the rootfs");
  if (plan.sharedMountNs) {
    SV_SYSCALL(::chroot("."), "into the rootfs");
  } else if (plan.noPivot) {
    SV_SYSCALL(::mount(".", "/", nullptr, MS_MOVE, nullptr), "moving the rootfs to /");
    SV_SYSCALL(::chroot("."), "into the rootfs");
  } else {
    // pivot_root(".", ".") stacks the old root on top of the new one; detach it right away.
    UniqueFd oldRoot(SV_SYSCALL(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), "old root"));
    SV_SYSCALL(::syscall(SYS_pivot_root, ".", "."), "'{}'", plan.rootfs);
    // Work on the old root explicitly: the kernel does not promise what "." is now.
    SV_SYSCALL(::fchdir(oldRoot.get()), "old root");
    // Keep the unmount of the old root from propagating to the host.
    SV_SYSCALL(::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr), "old root");
    SV_SYSCALL(::umount2(".", MNT_DETACH), "old root");
  }
  SV_SYSCALL(::chdir("/"), "/");
}

void capsetAll(const LaunchPlan& plan, int syncFd) noexcept {
  struct __user_cap_header_struct hdr {};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  struct __user_cap_data_struct data[2] {};
  auto lo = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  data[0] = {lo(plan.capEffective), lo(plan.capPermitted), lo(plan.capInheritable)};
  data[1] = {hi(plan.capEffective), hi(plan.capPermitted), hi(plan.capInheritable)};
  if (::syscall(SYS_capset, &hdr, data) != 0) fail(syncFd, errno, "capset");
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap < 64; ++cap)
    if ((plan.capAmbient >> cap) & 1)
      // The kernel refuses (EPERM) an ambient capability that is not also inheritable and
      // permitted; runc ignores that, and so do we.
      if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 && errno != EPERM)
        fail(syncFd, errno, "raising ambient capability %d", cap);
}

int lastCap() noexcept {
  for (int cap = 63; cap >= 0; --cap)
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0) return cap;
  return CAP_LAST_CAP;
}

// process.terminal (or plan.consolePty), after pivot_root so /dev/ptmx is the container's own
// devpts: the slave becomes the controlling terminal and stdio (consolePty: neither) and
// /dev/console of a container's init; the master goes to the runtime over the sync socket.
// The slave is reached through the master (TIOCGPTPEER), never through a /dev/pts path the
// image could have replaced.
void setupTerminal(const LaunchPlan& plan, int syncFd) noexcept {
  int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    fail(syncFd, errno, "opening /dev/ptmx for process.terminal (does the container mount "
                        "devpts on /dev/pts?)");
  int unlock = 0;
  if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) fail(syncFd, errno, "unlocking the pty");
  if (plan.consoleRows || plan.consoleCols) {
    struct winsize ws {plan.consoleRows, plan.consoleCols, 0, 0};
    if (::ioctl(master, TIOCSWINSZ, &ws) != 0) fail(syncFd, errno, "setting the console size");
  }
  int slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail(syncFd, errno, "opening the pty slave");
  if (!plan.execMode) {
    // /dev/console is the terminal, as on a real machine (a bind of the slave; an image's
    // /dev/console, if any, is only covered in this mount namespace).
    int fd = ::open("/dev/console", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0) fail(syncFd, errno, "creating /dev/console");
    ::close(fd);
    int tree = static_cast<int>(::syscall(SYS_open_tree, slave, "",
                                          AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (tree < 0) fail(syncFd, errno, "binding the pty to /dev/console");
    if (::syscall(SYS_move_mount, tree, "", AT_FDCWD, "/dev/console", MOVE_MOUNT_F_EMPTY_PATH) != 0)
      fail(syncFd, errno, "binding the pty to /dev/console");
    ::close(tree);
  }
  if (!syncSendFd(syncFd, SyncType::kConsole, master)) ::_exit(1);
  ::close(master);
  if (!plan.terminal) {  // plan.consolePty: /dev/console only
    ::close(slave);
    return;
  }
  if (::ioctl(slave, TIOCSCTTY, 0) != 0)
    fail(syncFd, errno, "making the pty the controlling terminal");
  for (int fd = 0; fd < 3; ++fd)
    if (::dup3(slave, fd, 0) < 0) fail(syncFd, errno, "pty as fd %d", fd);
  if (slave > 2) ::close(slave);
}

// Writes an LSM attribute of the calling thread below procfd (the host's /proc), or below
// /proc when procfd is -1; tries `fallback` when `path` does not exist.
bool writeProcAttr(int procfd, const char* path, const char* fallback, const char* value,
                   int len) noexcept {
  if (len < 0) return false;
  int dir = procfd >= 0 ? procfd : AT_FDCWD;
  char full[128];
  auto open1 = [&](const char* p) {
    if (procfd >= 0) return ::openat(dir, p, O_WRONLY | O_CLOEXEC);
    std::snprintf(full, sizeof full, "/proc/%s", p);
    return ::open(full, O_WRONLY | O_CLOEXEC);
  };
  int fd = open1(path);
  if (fd < 0 && errno == ENOENT && fallback) fd = open1(fallback);
  if (fd < 0) return false;
  bool ok = ::write(fd, value, static_cast<size_t>(len)) == len;
  int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

// startContainer hooks, ready to run after pivot_root: the prepared list and its state text.
struct StartHooks {
  const oci::PreparedHooks* prepared = nullptr;  // nullptr: none
  const char* state = "";
  size_t len = 0;
};

// Waits for the runtime's prestart/createRuntime hooks and takes the state texts for the
// init's own hooks (createContainer's, NUL, startContainer's) from the memfd it sends.
void receiveHookStates(int syncFd, std::string& createState, std::string& startState) {
  if (!syncSend(syncFd, SyncType::kHooks)) ::_exit(1);
  SyncMsg msg;
  int passed = -1;
  if (!syncRecvFd(syncFd, msg, &passed) || msg.type != SyncType::kHooksDone || passed < 0)
    ::_exit(1);  // the runtime failed (a hook did) and is killing us
  UniqueFd memfd(passed);
  std::string all;
  char buf[8192];
  for (off_t off = 0;;) {
    ssize_t n = ::pread(memfd.get(), buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throwSysError(errno, "read", "hook states");
    if (n == 0) break;
    all.append(buf, static_cast<size_t>(n));
    off += n;
  }
  auto nul = all.find('\0');
  createState = all.substr(0, nul);
  startState = nul == std::string::npos ? createState : all.substr(nul + 1);
}

// plan.fsBinds: has the runtime register the container with sysvisor-fs (the init exists,
// sits in its namespaces and cgroups, and has mounted nothing) and takes the emulated files'
// trees it sends back.
std::vector<FsBindTree> receiveFsBinds(int syncFd) {
  if (!syncSend(syncFd, SyncType::kFsBinds)) ::_exit(1);
  std::vector<FsBindTree> binds;
  for (;;) {
    SyncMsg msg;
    int passed = -1;
    // A failed registration: the runtime is killing us.
    if (!syncRecvFd(syncFd, msg, &passed)) ::_exit(1);
    UniqueFd tree(passed);
    if (msg.type == SyncType::kFsBindsDone) return binds;
    if (msg.type != SyncType::kFsBind || !tree) ::_exit(1);
    binds.push_back({msg.message, std::move(tree)});
  }
}

// Everything after pivot_root: no allocation, failures go through fail().
[[noreturn]] void finishAndExec(const LaunchPlan& plan, int syncFd, int execFifoFd, int procfd,
                                const char* const* argv, const char* const* envp,
                                const StartHooks& startHooks = {}) noexcept {
  if (plan.terminal || (plan.consolePty && !plan.execMode)) setupTerminal(plan, syncFd);
  if (plan.rootPropagationAfter &&
      ::mount(nullptr, "/", nullptr, plan.rootPropagationAfter, nullptr) != 0)
    fail(syncFd, errno, "setting rootfs propagation");
  for (const auto& [path, value] : plan.sysctls) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(syncFd, errno, "sysctl '%s'", path.c_str());
    ssize_t n = ::write(fd, value.data(), value.size());
    ::close(fd);
    if (n < 0) fail(syncFd, errno, "writing '%s' to sysctl '%s'", value.c_str(), path.c_str());
  }
  if (plan.readonlyRoot &&
      ::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | lockedFlags("/"), nullptr) != 0)
    fail(syncFd, errno, "remounting the root read-only");
  for (const auto& path : plan.readonlyPaths) {
    if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      if (errno == ENOENT) continue;
      fail(syncFd, errno, "readonly path '%s'", path.c_str());
    }
    if (::mount(nullptr, path.c_str(), nullptr,
                MS_BIND | MS_REMOUNT | MS_RDONLY | lockedFlags(path.c_str()), nullptr) != 0)
      fail(syncFd, errno, "remounting '%s' read-only", path.c_str());
  }
  for (const auto& path : plan.maskedPaths) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    int r = S_ISDIR(st.st_mode)
                ? ::mount("tmpfs", path.c_str(), "tmpfs", MS_RDONLY, "size=0k,mode=0555")
                : ::mount("/dev/null", path.c_str(), nullptr, MS_BIND, nullptr);
    if (r != 0 && errno != ENOENT) fail(syncFd, errno, "masking '%s'", path.c_str());
  }

  for (const auto& rl : plan.rlimits) {
    struct rlimit lim {rl.soft, rl.hard};
    if (::setrlimit(rl.resource, &lim) == 0) continue;
    int err = errno;
    struct rlimit cur {};
    ::getrlimit(rl.resource, &cur);
    if (err == EPERM && rl.hard > cur.rlim_max)
      fail(syncFd, err,
           "process.rlimits: %s hard limit %llu is above the runtime's own (%llu), and raising "
           "a hard limit needs CAP_SYS_RESOURCE on the host (ask for at most %llu)",
           oci::rlimitName(rl.resource), static_cast<unsigned long long>(rl.hard),
           static_cast<unsigned long long>(cur.rlim_max),
           static_cast<unsigned long long>(cur.rlim_max));
    fail(syncFd, err, "process.rlimits: setting %s to soft %llu hard %llu",
         oci::rlimitName(rl.resource), static_cast<unsigned long long>(rl.soft),
         static_cast<unsigned long long>(rl.hard));
  }
  if (plan.personality && ::personality(*plan.personality) < 0)
    fail(syncFd, errno, "personality");
  if (plan.ioPriority && ::syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, *plan.ioPriority) != 0)
    fail(syncFd, errno, "setting process.ioPriority");
  if (plan.scheduler && ::syscall(SYS_sched_setattr, 0, &*plan.scheduler, 0) != 0)
    fail(syncFd, errno, "setting process.scheduler (policy %u)", plan.scheduler->policy);
  // The LSM labels apply at execve; written through the host's /proc for the init (the
  // container's may be masked or missing), through the container's for exec.
  if (!plan.apparmorProfile.empty()) {
    char label[600];
    int len = std::snprintf(label, sizeof label, "exec %s", plan.apparmorProfile.c_str());
    if (!writeProcAttr(procfd, "thread-self/attr/apparmor/exec", "thread-self/attr/exec", label,
                       len))
      fail(syncFd, errno, "applying AppArmor profile \"%s\"", plan.apparmorProfile.c_str());
  }
  if (!plan.selinuxLabel.empty() &&
      !writeProcAttr(procfd, "thread-self/attr/exec", nullptr, plan.selinuxLabel.c_str(),
                     static_cast<int>(plan.selinuxLabel.size())))
    fail(syncFd, errno, "applying SELinux label \"%s\"", plan.selinuxLabel.c_str());

  // The seccomp filter goes in last: with no_new_privs right before the exec, without it
  // (the kernel then wants CAP_SYS_ADMIN) just before the capabilities are dropped. Every
  // syscall after it must pass the profile, as with runc. A notify listener goes to the
  // runtime at once (sendmsg, which compile() refuses as a notify target).
  auto loadSeccomp = [&]() noexcept {
    int r = seccomp::load(plan.seccomp);
    if (r < 0) fail(syncFd, -r, "loading the seccomp filter");
    if (plan.seccomp.notify) {
      if (!syncSendFd(syncFd, SyncType::kSeccompListener, r)) ::_exit(1);
      ::close(r);
    }
  };
  if (!plan.seccomp.empty() && !plan.noNewPrivileges) loadSeccomp();

  // Capabilities and user, in runc's order: bounding set while privileged, keep the
  // permitted set across the uid change, then set exactly what the spec asks for.
  if (plan.hasCapabilities) {
    int last = lastCap();
    for (int cap = 0; cap <= last; ++cap)
      if (!((plan.capBounding >> cap) & 1) && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        fail(syncFd, errno, "dropping capability %d from the bounding set", cap);
  }
  ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
  if (::setgroups(plan.additionalGids.size(), plan.additionalGids.data()) != 0 && errno != EPERM)
    fail(syncFd, errno, "setgroups");
  if (::setresgid(plan.gid, plan.gid, plan.gid) != 0) fail(syncFd, errno, "setresgid %u", plan.gid);
  if (::setresuid(plan.uid, plan.uid, plan.uid) != 0) fail(syncFd, errno, "setresuid %u", plan.uid);
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (::chdir(plan.cwd.c_str()) != 0)
    fail(syncFd, errno, "chdir to cwd (\"%s\") set in config.json", plan.cwd.c_str());
  if (plan.hasCapabilities) capsetAll(plan, syncFd);
  if (plan.noNewPrivileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    fail(syncFd, errno, "no_new_privs");
  if (plan.umask) ::umask(*plan.umask);
  else ::umask(022);

  // args[0]: the first candidate that is an executable regular file, checked as the user.
  const char* exe = nullptr;
  int exeErr = ENOENT;
  for (const auto& c : plan.execCandidates) {
    struct stat st;
    if (::stat(c.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::access(c.c_str(), X_OK) != 0) {
      exeErr = errno;
      continue;
    }
    exe = c.c_str();
    break;
  }
  if (!exe) {
    const char* arg0 = plan.args[0].c_str();
    if (exeErr != ENOENT) fail(syncFd, exeErr, "exec: \"%s\"", arg0);
    // A path is not looked up in $PATH: say that the file itself is missing (runc's words).
    if (std::strchr(arg0, '/')) fail(syncFd, ENOENT, "exec: \"%s\": stat %s", arg0, arg0);
    fail(syncFd, 0, "exec: \"%s\": executable file not found in $PATH", arg0);
  }
  if (!plan.seccomp.empty() && plan.noNewPrivileges) loadSeccomp();
  // The runtime must not die unnoticed during setup (see armDeathSignal); from here on the
  // init outlives `create` by design.
  ::prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  // startContainer hooks run once the container is started, before its process: at once
  // for `run` (a failure is then the launch's error), after `start` opened the FIFO
  // otherwise (the failure goes back through the FIFO, so `start` reports it).
  char hookError[2048];
  hookError[0] = '1';
  auto runStartHooks = [&]() noexcept {
    return !startHooks.prepared ||
           oci::runPreparedNoAlloc(*startHooks.prepared, startHooks.state, startHooks.len,
                                   hookError + 1, sizeof hookError - 1) == 0;
  };
  if (execFifoFd < 0 && !runStartHooks()) fail(syncFd, 0, "%s", hookError + 1);
  if (!syncSend(syncFd, SyncType::kReady)) ::_exit(1);  // the runtime is gone
  if (execFifoFd >= 0) {
    // Blocks until `start` opens the FIFO for reading. The host /proc fd reaches our own fd
    // table whatever the container mounted at /proc.
    char path[64];
    std::snprintf(path, sizeof path, "self/fd/%d", execFifoFd);
    int fd;
    do {
      fd = ::openat(procfd, path, O_WRONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) ::_exit(126);
    if (!runStartHooks()) {
      // One write below PIPE_BUF: `start` reads it whole.
      [[maybe_unused]] auto n = ::write(fd, hookError, std::strlen(hookError));
      ::_exit(1);
    }
    if (::write(fd, "0", 1) != 1) ::_exit(126);
    ::close(fd);
  }
  // Only the standard streams and the preserved fds reach the process.
  for (int fd = 3; fd < 3 + plan.preserveFds; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  ::syscall(SYS_close_range, 3 + plan.preserveFds, ~0U, 0);
  ::execve(exe, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  int err = errno;
  char msg[600];
  int len = std::snprintf(msg, sizeof msg, "sysvisor: exec \"%s\": %s\n", exe, std::strerror(err));
  if (len > 0) [[maybe_unused]] auto n = ::write(2, msg, static_cast<size_t>(len));
  ::_exit(err == ENOENT ? 127 : 126);
}

// Until the init reports ready, it dies with the runtime (a `create` killed half-way must
// not leave a half-set-up init behind). The kernel clears this on every credential change,
// so it is armed again after each. A runtime that died before this call is noticed when
// the ready message cannot be sent.
void armDeathSignal() noexcept { ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); }

// Closes every fd above the preserved ones except the two the init needs. The runtime's other
// fds (the state lock above all: flock is held by every copy) must not live on in the init.
void closeInheritedFds(const LaunchPlan& plan, const InitFds& fds) noexcept {
  unsigned first = 3 + static_cast<unsigned>(plan.preserveFds);
  // At most a handful of fds: a fixed array, sorted by insertion.
  int keep[64];
  size_t n = 0;
  auto add = [&](int fd) {
    if (fd < 0 || n == 64) return;
    size_t i = n++;
    while (i > 0 && keep[i - 1] > fd) {
      keep[i] = keep[i - 1];
      --i;
    }
    keep[i] = fd;
  };
  add(fds.sync);
  add(fds.execFifo);
  if (fds.trees) {
    for (int fd : fds.trees->mounts) add(fd);
    add(fds.trees->rootfs);
    for (int fd : fds.trees->devices) add(fd);
  }
  for (size_t i = 0; i < n; ++i) {
    int k = keep[i];
    if (k < 0 || static_cast<unsigned>(k) < first) continue;
    if (static_cast<unsigned>(k) > first) ::syscall(SYS_close_range, first, k - 1, 0);
    first = static_cast<unsigned>(k) + 1;
  }
  ::syscall(SYS_close_range, first, ~0U, 0);
}

}  // namespace

void sealChild(const LaunchPlan& plan, const InitFds& fds) noexcept {
  closeInheritedFds(plan, fds);
  armDeathSignal();
  // Until it execs, a child is a copy of the runtime: non-dumpable, so no process in the
  // container can reach its /proc/<pid>/exe (our binary) or its memory (CVE-2019-5736
  // class). execve of the user's program makes the init dumpable again.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

[[noreturn]] void childMain(const LaunchPlan& plan, const InitFds& fds, bool fastPath) noexcept {
  sealChild(plan, fds);
  const int syncFd = fds.sync, execFifoFd = fds.execFifo;
  resetSignals();  // exec keeps ignored signals and the mask
  // Its own session, as with runc: terminal signals reach the runtime, which forwards them,
  // and a pty can become the controlling terminal.
  ::setsid();
  ::umask(0);
  try {
    if (plan.execMode) {
      // The intermediate joined the container's namespaces; only the process is left.
      std::vector<const char*> argv, envp;
      for (const auto& a : plan.args) argv.push_back(a.c_str());
      argv.push_back(nullptr);
      for (const auto& e : plan.env) envp.push_back(e.c_str());
      envp.push_back(nullptr);
      finishAndExec(plan, syncFd, -1, -1, argv.data(), envp.data());
    }
    if (fastPath && plan.newUserNs) {
      SyncMsg msg;
      if (!syncRecv(syncFd, msg) || msg.type != SyncType::kGo) ::_exit(1);
    }
    std::vector<FsBindTree> fsBinds;
    if (plan.fsBinds) fsBinds = receiveFsBinds(syncFd);
    // Phase A, still with the host credentials: the root mount's propagation, the rootfs
    // bind, and fds of everything outside the rootfs that we will need.
    if (!plan.sharedMountNs)
      SV_SYSCALL(::mount(nullptr, "/", nullptr, plan.rootPropagation, nullptr), "making / {}",
                 "rslave");
    if (int tree = fds.trees ? fds.trees->rootfs : -1; tree >= 0) {
      // The idmapped clone of the rootfs the runtime prepared takes the rootfs's place.
      SV_SYSCALL(static_cast<int>(::syscall(SYS_move_mount, tree, "", AT_FDCWD,
                                            plan.rootfs.c_str(), MOVE_MOUNT_F_EMPTY_PATH)),
                 "idmapped rootfs on '{}'", plan.rootfs);
      ::close(tree);
    } else {
      SV_SYSCALL(::mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC,
                         nullptr),
                 "binding the rootfs '{}'", plan.rootfs);
    }
    UniqueFd rootfd(SV_SYSCALL(::open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC),
                               "rootfs '{}'", plan.rootfs));
    UniqueFd procfd(SV_SYSCALL(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC), "/proc"));
    std::vector<UniqueFd> sources = openBindSources(plan);
    if (plan.oomScoreAdj) {
      UniqueFd fd(SV_SYSCALL(::openat(procfd.get(), "self/oom_score_adj", O_WRONLY | O_CLOEXEC),
                             "oom_score_adj"));
      writeAll(fd.get(), std::to_string(*plan.oomScoreAdj), "oom_score_adj");
    }

    // Phase B: become root of the user namespace so what we create belongs to it.
    if (plan.newUserNs || !plan.joins.empty()) {
      if (plan.newUserNs || ::getuid() != 0) {
        if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)
          throwSysError(errno, "setresuid",
                        "to root of the user namespace (is container id 0 mapped?)");
        armDeathSignal();  // a credential change clears it
      }
    }
    if (plan.hostname)
      SV_SYSCALL(::sethostname(plan.hostname->data(), plan.hostname->size()), "'{}'",
                 *plan.hostname);
    if (plan.domainname)
      SV_SYSCALL(::setdomainname(plan.domainname->data(), plan.domainname->size()), "'{}'",
                 *plan.domainname);

    // Phase C: mounts, devices, the working directory.
    static const MountTrees kNone;
    const MountTrees& trees = fds.trees ? *fds.trees : kNone;
    // sysvisor-fs's files go over the container's own /proc and /sys (plan.fsBindsAt).
    const size_t fsAt = plan.fsBinds ? plan.fsBindsAt : plan.mounts.size();
    setupMounts(plan, rootfd.get(), sources, trees.mounts, 0, fsAt);
    for (const auto& path : mountFsBinds(plan, rootfd.get(), fsBinds))
      syncSend(syncFd, SyncType::kFsBindSkipped, 0, 0, path.c_str());
    fsBinds.clear();
    setupMounts(plan, rootfd.get(), sources, trees.mounts, fsAt, plan.mounts.size());
    sources.clear();
    setupDevices(plan, rootfd.get(), trees.devices);
    if (plan.cwd != "/") ensureInRoot(rootfd.get(), plan.cwd, true);

    // The runtime's hooks, then the init's createContainer hooks: in the container's
    // namespaces, before pivot_root, so their paths resolve in the runtime's mount tree.
    std::string createState, startState;
    oci::PreparedHooks startHooks;
    if (plan.hooksSync) {
      receiveHookStates(syncFd, createState, startState);
      oci::runHooks(plan.createContainerHooks, createState, "createContainer",
                    plan.rootfs.c_str());
      startHooks = oci::prepare(plan.startContainerHooks);
    }

    // The argument and environment vectors, built while allocation is still fine.
    std::vector<const char*> argv, envp;
    for (const auto& a : plan.args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    for (const auto& e : plan.env) envp.push_back(e.c_str());
    envp.push_back(nullptr);

    // Phase D: pivot_root; from here on no allocation.
    pivot(plan, rootfd.get());
    rootfd.reset();
    StartHooks start;
    if (!startHooks.empty()) start = {&startHooks, startState.data(), startState.size()};
    finishAndExec(plan, syncFd, execFifoFd, procfd.release(), argv.data(), envp.data(), start);
  } catch (const std::exception& e) {
    int err = 0;
    if (auto* se = dynamic_cast<const std::system_error*>(&e)) err = se->code().value();
    syncSend(syncFd, SyncType::kError, err, 0, e.what());
  } catch (...) {
    syncSend(syncFd, SyncType::kError, 0, 0, "unknown error in the container init");
  }
  ::_exit(1);
}

}  // namespace sv::ns
