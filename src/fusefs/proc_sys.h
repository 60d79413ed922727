// The /proc/sys handler of sysvisor-fs: lookups, listings, reads and writes below a
// container's /proc/sys, by the rules of sysctl_table.h. Namespaced knobs are read and written
// in the *requester's* namespaces (so a nested network namespace sees its own values): the
// FUSE thread enters the requester's net, ipc or uts namespace for the one syscall and comes
// back; user- and pid-namespace knobs, which a threaded process cannot enter, and writes of ipc
// knobs, which only the namespace's root may make, go through the single-threaded
// `sysvisor nsexec` helper.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "fusefs/container.h"

namespace sv::fs {

struct SysEntry {
  std::string name;
  mode_t mode;  // type and permissions of the real file
};

class ProcSys {
 public:
  // self: the binary to run as `nsexec` helper (a path that execs this sysvisor).
  explicit ProcSys(std::string self);

  // rest: the path below /proc/sys ("" for /proc/sys itself). All throw SysError (ENOENT,
  // EACCES, EINVAL, ...) like the kernel would.
  mode_t stat(std::string_view rest, pid_t requester) const;
  std::vector<SysEntry> list(std::string_view rest, pid_t requester) const;
  std::string read(const Container& c, std::string_view rest, pid_t requester) const;
  // Returns true when a per-container value changed (the caller persists it).
  bool write(Container& c, std::string_view rest, std::string_view data, pid_t requester) const;

 private:
  std::string helper(pid_t requester, std::string_view rest, const std::string* value) const;

  std::string self_;
  UniqueFd hostNet_, hostIpc_, hostUts_;
};

// `sysvisor nsexec --pid P --sysctl PATH [--write VALUE]`: enters P's user, ipc, uts, net and
// pid namespaces, reads (or writes) /proc/sys/PATH there as that namespace's root and prints
// the value. Single-threaded by birth.
[[noreturn]] void nsexecMain(int argc, char** argv);

}  // namespace sv::fs
