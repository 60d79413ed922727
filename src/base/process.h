// Process identity and handles: start times (to tell a live container from a recycled pid),
// pidfds, and a guard that kills and reaps a child unless released.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "base/unique_fd.h"

namespace sv {

// Start time (clock ticks since boot, field 22 of /proc/<pid>/stat) and whether the process
// is a zombie/dead; nullopt if the pid does not exist.
struct ProcStat {
  uint64_t startTime = 0;
  char state = '?';
};
std::optional<ProcStat> readProcStat(pid_t pid);

// The start of a helper process the runtime forks to outlive it (console relay, id view
// server): named for ps (comm), in a session of its own, no blocked signals, default
// dispositions but SIGPIPE and SIGHUP ignored. Async-signal-safe calls only.
void becomeDetachedHelper(const char* name) noexcept;

// pidfd_open(2); an invalid fd if the process is gone.
UniqueFd pidfdOpen(pid_t pid);
// A pidfd of pid if it is still the process that started at startTime (field 22 of its stat)
// and has not exited; an invalid fd otherwise (gone, a zombie, or a recycled pid). Checked
// after pidfd_open, so the answer cannot go stale: the fd pins the process.
UniqueFd openIfSame(pid_t pid, uint64_t startTime);
// Sends sig through the pidfd; returns false with errno set on failure.
bool pidfdSignal(int pidfd, int sig);

// Kills (SIGKILL) and reaps the child on scope exit unless release()d.
class ChildGuard {
 public:
  ChildGuard() = default;
  ChildGuard(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  ChildGuard(ChildGuard&& o) noexcept : pid_(o.pid_), pidfd_(std::move(o.pidfd_)) { o.pid_ = -1; }
  ChildGuard& operator=(ChildGuard&&) = delete;
  ~ChildGuard();
  // Guards another child (killing the current one, if any).
  void reset(pid_t pid, UniqueFd pidfd);
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // Stops guarding; the caller keeps the pidfd.
  [[nodiscard]] UniqueFd release() {
    pid_ = -1;
    return std::move(pidfd_);
  }

 private:
  void killAndReap() noexcept;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// Default dispositions for every signal and an empty mask, before an exec (which keeps
// ignored signals and the mask). Async-signal-safe.
void resetSignals() noexcept;

// Waits for a child through its pidfd; returns a shell-style exit code (128+n on signal).
int waitExitCode(int pidfd);

}  // namespace sv
