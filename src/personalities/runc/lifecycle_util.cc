// Small steps shared by create, exec and the other lifecycle commands (lifecycle_internal.h).
#include <fcntl.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "personalities/runc/lifecycle_internal.h"

namespace sv::runc {

// The fds 3..3+n-1 that --preserve-fds passes must be the caller's: a gap would be filled by
// one of ours (a lock, a cgroup dir) and leak into the container.
void checkPreservedFds(int n) {
  if (n < 0) throw UserError(fmt::format("--preserve-fds {} is negative", n));
  for (int fd = 3; fd < 3 + n; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 || fd == log::fd())
      throw UserError(fmt::format(
          "--preserve-fds {}: fd {} is not open in the caller; pass only as many fds as are open "
          "from fd 3 on",
          n, fd));
}

oci::Spec loadSpec(const std::string& bundle) {
  std::string path = bundle + "/config.json";
  auto text = readFileIfExists(path);
  if (!text)
    throw UserError(fmt::format("no config.json in bundle \"{}\": create one with `sysvisor-runc "
                                "spec` or point --bundle at the right directory",
                                bundle));
  try {
    return oci::parseSpec(*text);
  } catch (const oci::SpecError& e) {
    throw UserError(fmt::format("{} ({})", e.what(), path));
  }
}

// AppArmor and SELinux labels apply where the host has the LSM; elsewhere they are ignored
// with a debug line (images and engines name profiles whatever the host).
void dropUnsupportedLsmLabels(ns::LaunchPlan& plan) {
  if (!plan.apparmorProfile.empty()) {
    auto enabled = readFileIfExists("/sys/module/apparmor/parameters/enabled");
    if (!enabled || !enabled->starts_with("Y")) {
      log::debug("AppArmor is not enabled on this host: ignoring apparmorProfile \"{}\"",
                 plan.apparmorProfile);
      plan.apparmorProfile.clear();
    }
  }
  if (!plan.selinuxLabel.empty() && ::access("/sys/fs/selinux/enforce", F_OK) != 0) {
    log::debug("SELinux is not enabled on this host: ignoring selinuxLabel \"{}\"",
               plan.selinuxLabel);
    plan.selinuxLabel.clear();
  }
}

// linux.seccomp (parsed; null: none) compiled for the init or an exec'd process, through a
// cache of compiled programs under --root (Docker's default profile is the same on every
// container).
ns::seccomp::Program compileSeccomp(const StateStore& store, const nlohmann::json& profile) {
  if (profile.is_null()) return {};
  UniqueFd cache = store.openSeccompCache();
  ns::seccomp::Program p = ns::seccomp::compileProfile(profile, cache.get());
  if (!p.skippedSyscalls.empty())
    log::debug("seccomp: syscalls unknown to libseccomp skipped: {}",
               fmt::join(p.skippedSyscalls, ", "));
  return p;
}

// Hands a seccomp notify listener to the agent at linux.seccomp.listenerPath.
void sendSeccompListener(const ns::seccomp::Program& p, const ContainerState& s,
                         const char* status, pid_t pid, UniqueFd listener) {
  ns::seccomp::sendListener(p, listener.get(), specState(s, status, pid));
}

void writePidFile(const std::string& path, pid_t pid) {
  std::string abs = path;
  std::string dir = ".", name = path;
  if (auto slash = abs.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : abs.substr(0, slash);
    name = abs.substr(slash + 1);
  }
  UniqueFd d(SV_SYSCALL(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "pid file dir '{}'",
                        dir));
  writeFileAtomic(d.get(), name, std::to_string(pid), 0644);
}

UniqueFd openInit(const ContainerState& s) { return openIfSame(s.pid, s.pidStartTime); }

}  // namespace sv::runc
