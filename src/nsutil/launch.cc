#include "nsutil/launch.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "nsutil/sync.h"

namespace sv::ns {

namespace {

pid_t clone3(unsigned long long flags, int* pidfd, int cgroupFd = -1) {
  struct clone_args args {};
  if (cgroupFd >= 0) {
    flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroupFd);
  }
  args.flags = flags;
  // clone3 refuses an exit signal with CLONE_PARENT: the child then inherits ours (SIGCHLD).
  args.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
  if (flags & CLONE_PIDFD) args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

void writeProcFile(pid_t pid, const char* name, const std::string& text) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
  UniqueFd fd(SV_SYSCALL(::open(path, O_WRONLY | O_CLOEXEC), "'{}'", path));
  writeAll(fd.get(), text, path);
}

void writeMaps(pid_t pid, const LaunchPlan& plan) {
  writeProcFile(pid, "uid_map", plan.uidMap);
  writeProcFile(pid, "gid_map", plan.gidMap);
}

// The slow path for joined namespaces and time offsets: setns, unshare (a pid or time
// namespace applies only to children), then fork the real init as a sibling (CLONE_PARENT)
// so the runtime can wait for it.
[[noreturn]] void intermediateMain(const LaunchPlan& plan, const InitFds& fds) noexcept {
  sealChild(plan, fds);  // before it enters anyone's namespaces
  int syncFd = fds.sync;
  try {
    // Open every namespace first: once in another mount namespace, /proc paths of ours
    // would resolve in the container's /proc.
    std::vector<UniqueFd> nsFds;
    for (const auto& j : plan.joins)
      nsFds.emplace_back(
          SV_SYSCALL(::open(j.path.c_str(), O_RDONLY | O_CLOEXEC), "namespace '{}'", j.path));
    for (size_t i = 0; i < plan.joins.size(); ++i)
      SV_SYSCALL(::setns(nsFds[i].get(), oci::nsCloneFlag(plan.joins[i].type)),
                 "joining {} namespace '{}'", oci::nsName(plan.joins[i].type), plan.joins[i].path);
    nsFds.clear();
    int flags = plan.cloneFlags;
    if (flags & CLONE_NEWUSER) {
      SV_SYSCALL(::unshare(CLONE_NEWUSER), "user namespace");
      syncSend(syncFd, SyncType::kNeedMaps);
      SyncMsg msg;
      if (!syncRecv(syncFd, msg) || msg.type != SyncType::kMapsWritten) ::_exit(1);
      SV_SYSCALL(::setresgid(0, 0, 0), "root in the user namespace");
      SV_SYSCALL(::setresuid(0, 0, 0), "root in the user namespace");
      flags &= ~CLONE_NEWUSER;
    }
    SV_SYSCALL(::unshare(flags), "namespaces");
    if (!plan.timeOffsets.empty()) {
      UniqueFd fd(SV_SYSCALL(::open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC),
                             "/proc/self/timens_offsets"));
      writeAll(fd.get(), plan.timeOffsets, "timens_offsets");
    }
    pid_t pid = clone3(CLONE_PARENT, nullptr);
    if (pid < 0) throwSysError(errno, "clone3", "container init");
    if (pid == 0) childMain(plan, fds, false);
    syncSend(syncFd, SyncType::kInitPid, 0, pid);
    ::_exit(0);
  } catch (const std::exception& e) {
    int err = 0;
    if (auto* se = dynamic_cast<const std::system_error*>(&e)) err = se->code().value();
    syncSend(syncFd, SyncType::kError, err, 0, e.what());
  }
  ::_exit(1);
}

// plan.fsBinds: the runtime's side of kFsBinds (registration) and the trees it sends back.
void sendFsBinds(int sock, pid_t init, const LaunchCallbacks& callbacks) {
  if (!callbacks.onFsBinds)
    throw UserError("the container init asked for sysvisor-fs files nobody provides");
  for (const FsBindTree& b : callbacks.onFsBinds(init))
    if (!syncSendFd(sock, SyncType::kFsBind, b.tree.get(), b.destination.c_str()))
      throw UserError("the container init exited while it received the sysvisor-fs files");
  if (!syncSend(sock, SyncType::kFsBindsDone))
    throw UserError("the container init exited while it received the sysvisor-fs files");
}

[[noreturn]] void throwChildError(const SyncMsg& msg) {
  // The message already carries strerror(err).
  throw UserError(fmt::format("unable to start container process: {}", msg.message));
}

}  // namespace

Launched launchInit(const LaunchPlan& plan, int execFifoFd, int cgroupV2Fd,
                    const MountTrees& trees, const LaunchCallbacks& callbacks) {
  int sp[2];
  SV_SYSCALL(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), "sync socket");
  UniqueFd parentSock(sp[0]), childSock(sp[1]);

  unsigned long long flags = CLONE_PIDFD;
  // The child is born in its cgroups, so a new cgroup namespace is rooted there.
  if (!plan.needsIntermediate) flags |= static_cast<unsigned>(plan.cloneFlags);
  int pidfd = -1;
  pid_t pid = clone3(flags, &pidfd, cgroupV2Fd);
  if (pid < 0) throwSysError(errno, "clone3", "container init");
  if (pid == 0) {
    InitFds fds{childSock.get(), execFifoFd, &trees};
    if (plan.needsIntermediate) intermediateMain(plan, fds);
    childMain(plan, fds, true);
  }
  ChildGuard guard(pid, UniqueFd(pidfd));
  childSock.reset();
  if (callbacks.afterClone) callbacks.afterClone();

  if (plan.newUserNs && !plan.needsIntermediate) {
    writeMaps(pid, plan);
    syncSend(parentSock.get(), SyncType::kGo);
  }
  UniqueFd ptyMaster;
  std::vector<std::string> skippedFsBinds;
  auto launched = [&] {
    return Launched{std::move(guard), std::move(ptyMaster), std::move(skippedFsBinds)};
  };
  // Through an intermediate, the init's kReady may overtake the intermediate's kInitPid:
  // done only once both are in (else the caller would hold the intermediate, not the init).
  // Its kFsBinds too: the registration waits for the init's pid.
  bool haveInitPid = !plan.needsIntermediate, ready = false, fsBindsWanted = false;
  for (;;) {
    SyncMsg msg;
    int passed = -1;
    if (!syncRecvFd(parentSock.get(), msg, &passed)) {
      siginfo_t info{};
      ::waitid(P_PIDFD, static_cast<id_t>(guard.pidfd()), &info, WEXITED | WNOHANG | __WALL);
      throw UserError("the container init exited during setup without saying why");
    }
    // Only kConsole and kSeccompListener carry an fd.
    UniqueFd unexpected(msg.type == SyncType::kConsole || msg.type == SyncType::kSeccompListener
                            ? -1
                            : passed);
    switch (msg.type) {
      case SyncType::kNeedMaps:
        writeMaps(guard.pid(), plan);
        syncSend(parentSock.get(), SyncType::kMapsWritten);
        break;
      case SyncType::kInitPid: {
        pid_t init = static_cast<pid_t>(msg.value);
        // The intermediate is done; the init is our child too (CLONE_PARENT).
        siginfo_t info{};
        ::waitid(P_PIDFD, static_cast<id_t>(guard.pidfd()), &info, WEXITED | __WALL);
        (void)guard.release();
        UniqueFd initFd = pidfdOpen(init);
        if (!initFd) throwSysError(errno, "pidfd_open", "container init");
        guard.reset(init, std::move(initFd));
        haveInitPid = true;
        if (fsBindsWanted) sendFsBinds(parentSock.get(), guard.pid(), callbacks);
        if (ready) return launched();
        break;
      }
      case SyncType::kConsole:
        if (passed < 0) throw UserError("the container init sent no pty master");
        ptyMaster = UniqueFd(passed);
        passed = -1;
        break;
      case SyncType::kReady:
        if (plan.terminal && !ptyMaster)
          throw UserError("the container init set up no terminal");
        ready = true;
        if (haveInitPid) return launched();
        break;
      case SyncType::kHooks: {
        if (!callbacks.onHooks) throw UserError("the container init asked for hooks nobody runs");
        UniqueFd states = callbacks.onHooks(guard.pid());
        if (!syncSendFd(parentSock.get(), SyncType::kHooksDone, states.get()))
          throw UserError("the container init exited while its hooks ran");
        break;
      }
      case SyncType::kSeccompListener: {
        if (passed < 0 || !callbacks.onSeccompListener)
          throw UserError("the container init sent a seccomp listener nobody takes");
        UniqueFd listener(passed);
        passed = -1;
        callbacks.onSeccompListener(guard.pid(), std::move(listener));
        break;
      }
      case SyncType::kFsBinds:
        if (haveInitPid) sendFsBinds(parentSock.get(), guard.pid(), callbacks);
        else fsBindsWanted = true;
        break;
      case SyncType::kFsBindSkipped: skippedFsBinds.emplace_back(msg.message); break;
      case SyncType::kError: throwChildError(msg);
      case SyncType::kGo:
      case SyncType::kMapsWritten:
      case SyncType::kHooksDone:
      case SyncType::kFsBind:
      case SyncType::kFsBindsDone: break;
    }
  }
}

}  // namespace sv::ns
