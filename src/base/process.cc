#include "base/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/sys_error.h"

namespace sv {

std::optional<ProcStat> readProcStat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // The command name may contain spaces and ')': fields start after the last ')'.
  char* p = std::strrchr(buf, ')');
  if (!p || p[1] != ' ') return std::nullopt;
  p += 2;
  ProcStat st;
  st.state = *p;
  // p points at field 3 (state); the start time is field 22.
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return std::nullopt;
    ++p;
  }
  st.startTime = std::strtoull(p, nullptr, 10);
  return st;
}

void becomeDetachedHelper(const char* name) noexcept {
  ::prctl(PR_SET_NAME, name, 0, 0, 0);
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
}

UniqueFd pidfdOpen(pid_t pid) {
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

UniqueFd openIfSame(pid_t pid, uint64_t startTime) {
  if (pid <= 0) return UniqueFd();
  UniqueFd fd = pidfdOpen(pid);
  if (!fd) return fd;
  auto st = readProcStat(pid);
  if (!st || st->startTime != startTime || st->state == 'Z' || st->state == 'X')
    return UniqueFd();
  return fd;
}

bool pidfdSignal(int pidfd, int sig) {
  return ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

ChildGuard::~ChildGuard() { reset(-1, UniqueFd()); }

void ChildGuard::reset(pid_t pid, UniqueFd pidfd) {
  killAndReap();
  pid_ = pid;
  pidfd_ = std::move(pidfd);
}

void ChildGuard::killAndReap() noexcept {
  if (pid_ <= 0) return;
  if (pidfd_) {
    pidfdSignal(pidfd_.get(), SIGKILL);
  } else {
    ::kill(pid_, SIGKILL);
  }
  while (::waitpid(pid_, nullptr, __WALL) < 0 && errno == EINTR) {
  }
}

int waitExitCode(int pidfd) {
  siginfo_t info{};
  SV_SYSCALL(::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | __WALL), "container process");
  if (info.si_code == CLD_EXITED) return info.si_status;
  return 128 + info.si_status;
}

void resetSignals() noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &sa, nullptr);
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
}

}  // namespace sv
