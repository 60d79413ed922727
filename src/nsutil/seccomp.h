// linux.seccomp: compiled in the runtime, loaded last in the container init.
//
// compile() validates the profile and builds the cBPF program with libseccomp before the
// clone; the init's load() is one seccomp(2) call (no libseccomp, no allocation), so it can
// run after pivot_root right before execve. With SCMP_ACT_NOTIFY rules load() returns the
// listener fd, which the runtime hands to the seccomp agent with sendListener().
#pragma once

#include <linux/filter.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sv::ns::seccomp {

struct Program {
  std::vector<sock_filter> filter;  // empty: no seccomp
  unsigned flags = 0;               // SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER)
  bool notify = false;              // some rule is SCMP_ACT_NOTIFY: load() returns a listener fd
  std::string listenerPath;         // linux.seccomp.listenerPath (set whenever notify is)
  std::string listenerMetadata;
  // Names libseccomp does not know (probably newer than it): skipped, as runc does. For a
  // debug log line.
  std::vector<std::string> skippedSyscalls;

  bool empty() const noexcept { return filter.empty(); }
};

// Parses and validates linux.seccomp (the raw JSON of oci::Linux::seccompJson; "" = none) and
// compiles it for this machine's architecture and kernel. Throws UserError naming the field
// (config.json: "linux.seccomp.syscalls[3].action": ...).
//
// cacheDirFd: a directory only the runtime can write (e.g. <root>/.seccomp-cache), where
// compiled programs are kept and found again: a ~340-syscall, three-architecture profile
// takes ~4.5 ms of CPU to build and ~0.2 ms to read back. -1: no cache.
Program compile(const std::string& seccompJson, int cacheDirFd = -1);
// The same from linux.seccomp as already parsed (oci::Linux::seccomp; null = none).
Program compileProfile(const nlohmann::json& profile, int cacheDirFd = -1);

// Installs p in the calling thread. Returns the listener fd (O_CLOEXEC) when p.notify, 0 when
// not (or when p is empty), -errno on failure. Async-signal-safe: no allocation, no locks.
//
// The kernel accepts a filter only from a task with no_new_privs set or with CAP_SYS_ADMIN in
// its user namespace. So without process.noNewPrivileges the init must call this while it
// still has CAP_SYS_ADMIN (before dropping capabilities and changing uid); with it, after
// PR_SET_NO_NEW_PRIVS, as late as possible, so that few of the init's own syscalls have to
// pass the filter. Every syscall the init makes after this must be allowed by the profile.
int load(const Program& p) noexcept;

// Sends the runtime-spec "container process state" to the seccomp agent listening on
// p.listenerPath (AF_UNIX, SOCK_STREAM, one connection), with listenerFd attached
// (SCM_RIGHTS) as "seccompFd". stateJson is the container's state object (runtime.md
// "state"; its "pid" is the container process). Throws UserError when no agent listens there,
// SysError for other failures.
void sendListener(const Program& p, int listenerFd, const std::string& stateJson);

// What compile() accepts, for `features` (runtime-spec features.md, linux.seccomp).
struct Features {
  std::vector<std::string_view> actions, operators, archs, knownFlags, supportedFlags;
  std::string libseccompVersion;
};
Features features();

}  // namespace sv::ns::seccomp
