#include "fusefs/proc_sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>

#include "base/sys_error.h"
#include "fusefs/reattach.h"
#include "fusefs/sysctl_table.h"

extern char** environ;

namespace sv::fs {
namespace {

enum class NsKind { kNone, kNet, kIpc, kUts, kHelper };

constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD

NsKind nsKindOf(std::string_view rest) {
  if (rest == "net" || rest.starts_with("net/")) return NsKind::kNet;
  if (rest == "user" || rest.starts_with("user/") || rest == "kernel/ns_last_pid")
    return NsKind::kHelper;
  if (rest == "kernel/hostname" || rest == "kernel/domainname") return NsKind::kUts;
  if (rest.starts_with("fs/mqueue")) return NsKind::kIpc;
  for (std::string_view p : {"kernel/shm", "kernel/msg", "kernel/sem", "kernel/auto_msgmni"})
    if (rest.starts_with(p)) return NsKind::kIpc;
  return NsKind::kNone;
}

std::string sysPath(std::string_view rest) {
  std::string p = "/proc/sys";
  if (!rest.empty()) p.append("/").append(rest);
  return p;
}

// Puts the calling thread into the requester's namespace of one kind for its lifetime.
// Safe on a FUSE worker: net, ipc and uts namespaces are per thread, setns into them needs no
// single-threaded process, and the destructor always returns the thread to the daemon's own
// namespace (if it cannot, the process stops rather than serve another request from there).
class NsGuard {
 public:
  NsGuard(NsKind kind, pid_t pid, int hostFd) {
    int flag = kind == NsKind::kNet ? CLONE_NEWNET : kind == NsKind::kIpc ? CLONE_NEWIPC
                                                                          : CLONE_NEWUTS;
    if (kind == NsKind::kNone || kind == NsKind::kHelper || pid <= 0) return;
    // A pidfd enters one of the process's namespaces directly (kernel 5.8), without the
    // path walk and access checks of opening /proc/<pid>/ns/<type> (~10 µs here). FUSE names
    // the requesting *thread*: a pidfd of a thread needs PIDFD_THREAD (kernel 6.9); before
    // that, a thread that is not its group's leader is entered through /proc.
    UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, kPidfdThread)));
    if (!fd && errno == EINVAL) fd = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!fd && errno == EINVAL) {
      const char* name = flag == CLONE_NEWNET ? "net" : flag == CLONE_NEWIPC ? "ipc" : "uts";
      fd = UniqueFd(::open(fmt::format("/proc/{}/ns/{}", pid, name).c_str(), O_RDONLY | O_CLOEXEC));
    }
    // The requester vanished mid-request: nothing to answer for.
    if (!fd) throwSysError(errno == ENOENT ? ESRCH : errno, "pidfd_open", std::to_string(pid));
    SV_SYSCALL(::setns(fd.get(), flag), "pid {}", pid);
    flag_ = flag;
    hostFd_ = hostFd;
  }
  ~NsGuard() {
    if (flag_ && ::setns(hostFd_, flag_) != 0) std::terminate();
  }
  NsGuard(const NsGuard&) = delete;
  NsGuard& operator=(const NsGuard&) = delete;

 private:
  int flag_ = 0;
  int hostFd_ = -1;
};

std::string readAll(const std::string& path) {
  UniqueFd fd(SV_SYSCALL(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "'{}'", path));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = SV_SYSCALL(::read(fd.get(), buf, sizeof buf), "'{}'", path);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void writeOnce(const std::string& path, std::string_view data) {
  UniqueFd fd(SV_SYSCALL(::open(path.c_str(), O_WRONLY | O_CLOEXEC), "'{}'", path));
  SV_SYSCALL(::write(fd.get(), data.data(), data.size()), "'{}'", path);
}

UniqueFd openOwnNs(const char* name) {
  std::string path = std::string("/proc/self/ns/") + name;
  return UniqueFd(SV_SYSCALL(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "'{}'", path));
}

}  // namespace

ProcSys::ProcSys(std::string self)
    : self_(std::move(self)),
      hostNet_(openOwnNs("net")),
      hostIpc_(openOwnNs("ipc")),
      hostUts_(openOwnNs("uts")) {}

mode_t ProcSys::stat(std::string_view rest, pid_t requester) const {
  if (rest.empty()) return S_IFDIR | 0555;
  NsKind kind = nsKindOf(rest);
  NsGuard in(kind == NsKind::kNet ? kind : NsKind::kNone, requester, hostNet_.get());
  std::string path = sysPath(rest);
  struct stat st;
  SV_SYSCALL(::lstat(path.c_str(), &st), "'{}'", path);
  return st.st_mode;
}

std::vector<SysEntry> ProcSys::list(std::string_view rest, pid_t requester) const {
  NsKind kind = nsKindOf(rest);
  NsGuard in(kind == NsKind::kNet ? kind : NsKind::kNone, requester, hostNet_.get());
  std::string path = sysPath(rest);
  int fd = SV_SYSCALL(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "'{}'", path);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    throwSysError(err, "fdopendir", path);
  }
  std::vector<SysEntry> out;
  // At the top level, "net" is listed from the requester's view like everything else.
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    out.push_back({std::string(name), st.st_mode});
  }
  ::closedir(d);
  return out;
}

std::string ProcSys::read(const Container& c, std::string_view rest, pid_t requester) const {
  const SysctlRule& rule = lookupSysctl(rest);
  switch (rule.scope) {
    case SysctlScope::kNamespaced: {
      NsKind kind = nsKindOf(rest);
      if (kind == NsKind::kHelper) return helper(requester, rest, nullptr);
      int host = kind == NsKind::kNet   ? hostNet_.get()
                 : kind == NsKind::kIpc ? hostIpc_.get()
                                        : hostUts_.get();
      NsGuard in(kind, requester, host);
      return readAll(sysPath(rest));
    }
    case SysctlScope::kLocal:
    case SysctlScope::kPushIfLarger:
      if (auto v = c.sysctl(rest)) return *v;
      return readAll(sysPath(rest));
    case SysctlScope::kHostReadOnly:
    case SysctlScope::kFresh:
    case SysctlScope::kDenied:
      return readAll(sysPath(rest));
  }
  return {};
}

bool ProcSys::write(Container& c, std::string_view rest, std::string_view data,
                    pid_t requester) const {
  const SysctlRule& rule = lookupSysctl(rest);
  std::string path = sysPath(rest);
  switch (rule.scope) {
    case SysctlScope::kNamespaced: {
      NsKind kind = nsKindOf(rest);
      // The kernel lets only the namespace's own root write ipc knobs (ipc_permissions
      // compares the euid with it; capabilities do not count), and user-namespace knobs need
      // their namespace: both are written by the helper, as the container's root.
      if (kind == NsKind::kHelper || kind == NsKind::kIpc) {
        std::string v(data);
        helper(requester, rest, &v);
        return false;
      }
      int host = kind == NsKind::kNet   ? hostNet_.get()
                 : kind == NsKind::kIpc ? hostIpc_.get()
                                        : hostUts_.get();
      NsGuard in(kind, requester, host);
      writeOnce(path, data);
      return false;
    }
    case SysctlScope::kLocal:
    case SysctlScope::kPushIfLarger: {
      std::string current = c.sysctl(rest).value_or("");
      std::string host;
      if (rule.scope == SysctlScope::kPushIfLarger || current.empty()) host = readAll(path);
      if (current.empty()) current = host;
      SysctlWrite w = checkSysctlWrite(rule, data, current);
      if (w.error) throwSysError(w.error, "write", path);
      // Raise the host first: a container's limit that the host cannot honour is refused.
      if (rule.scope == SysctlScope::kPushIfLarger && mustRaiseHost(host, w.value))
        writeOnce(path, w.value);
      c.setSysctl(rest, std::move(w.value));
      return true;
    }
    case SysctlScope::kHostReadOnly:
    case SysctlScope::kFresh:
    case SysctlScope::kDenied:
      throwSysError(EACCES, "write", path);
  }
  return false;
}

std::string ProcSys::helper(pid_t requester, std::string_view rest,
                            const std::string* value) const {
  int out[2];
  SV_SYSCALL(::pipe2(out, O_CLOEXEC), "nsexec pipe");
  UniqueFd rd(out[0]), wr(out[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), STDOUT_FILENO);
  std::string pid = std::to_string(requester);
  std::string path(rest);
  std::vector<char*> argv = {const_cast<char*>(self_.c_str()), const_cast<char*>("nsexec"),
                             const_cast<char*>("--pid"), pid.data(),
                             const_cast<char*>("--sysctl"), path.data()};
  if (value) {
    argv.push_back(const_cast<char*>("--write"));
    argv.push_back(const_cast<char*>(value->c_str()));
  }
  argv.push_back(nullptr);
  pid_t child = 0;
  int rc = ::posix_spawn(&child, self_.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throwSysError(rc, "posix_spawn", self_ + " nsexec");
  wr.reset();
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // The helper exits with the errno of what failed (1 for anything else).
  if (!WIFEXITED(status)) throwSysError(EIO, "nsexec", path);
  if (int err = WEXITSTATUS(status)) throwSysError(err, "nsexec", path);
  return text;
}

namespace {

int nsexecRun(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--reattach") reattachMain(argc, argv);
  pid_t pid = 0;
  std::string rest;
  const char* value = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view a = argv[i];
    if (a == "--pid") pid = static_cast<pid_t>(std::atoi(argv[i + 1]));
    else if (a == "--sysctl") rest = argv[i + 1];
    else if (a == "--write") value = argv[i + 1];
  }
  if (pid <= 0 || rest.empty() || rest.find("..") != std::string::npos) {
    dprintf(STDERR_FILENO, "usage: sysvisor nsexec --pid PID --sysctl PATH [--write VALUE]\n");
    return EINVAL;
  }
  // Every namespace is opened first: once we are the container's root, the target's
  // /proc/<pid>/ns links are out of reach (a process that has not exec'd in the container is
  // still owned by the host). The user namespace is joined first: joining the others is then
  // allowed from inside it. The helper must not be inspectable from the container it enters
  // (no ptrace, no /proc/<pid>/mem).
  ::prctl(PR_SET_DUMPABLE, 0);
  constexpr const char* kNamespaces[] = {"user", "ipc", "uts", "net", "pid"};
  UniqueFd fds[std::size(kNamespaces)];
  for (size_t i = 0; i < std::size(kNamespaces); ++i) {
    std::string p = fmt::format("/proc/{}/ns/{}", pid, kNamespaces[i]);
    fds[i] = UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fds[i]) return errno == ENOENT ? ESRCH : errno;
    struct stat a, b;
    std::string own = fmt::format("/proc/self/ns/{}", kNamespaces[i]);
    // Already there (setns into one's own user namespace is EINVAL).
    if (::fstat(fds[i].get(), &a) == 0 && ::stat(own.c_str(), &b) == 0 && a.st_ino == b.st_ino)
      fds[i].reset();
  }
  for (size_t i = 0; i < std::size(kNamespaces); ++i) {
    if (!fds[i]) continue;
    if (::setns(fds[i].get(), 0) != 0) return errno;
    // Become the user namespace's root, not just capable in it: the kernel lets only the
    // owner of an ipc namespace write its knobs (ipc_permissions compares the euid).
    if (i == 0 && (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0)) return errno;
  }
  // Only children live in the joined pid namespace: the reading is done by one.
  pid_t child = ::fork();
  if (child < 0) return errno;
  if (child == 0) {
    std::string path = "/proc/sys/" + rest;
    try {
      if (value) {
        writeOnce(path, value);
      } else {
        std::string v = readAll(path);
        if (::write(STDOUT_FILENO, v.data(), v.size()) < 0) _exit(errno);
      }
    } catch (const SysError& e) {
      _exit(e.err());
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

void nsexecMain(int argc, char** argv) {
  // _exit, not a return through exit(): the helper is non-dumpable and root of the
  // container's user namespace now, where nothing run at exit may inspect it (LeakSanitizer's
  // exit check, which ptraces its own threads, spun forever here and hung the sysctl write that
  // started it). Its output is written unbuffered.
  ::_exit(nsexecRun(argc, argv));
}

}  // namespace sv::fs
