// The system-container transform: turns the oci::Spec that Docker (or any OCI caller) sends into
// the spec of a system container (DESIGN.md §2) before the launch plan is built. A pure
// function of the spec and of the id range sysvisor-mgr handed out: no syscalls, no files, so
// every rule is unit-tested on Docker-shaped specs.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "oci/spec.h"

namespace sv::runc {

// A spec that cannot become a system container (--privileged, --pid=host, bad id mappings).
// The message says what is refused and what to do instead.
class SysContError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Host ids [uidBase, uidBase + size) and [gidBase, gidBase + size) that container ids
// [0, size) map to.
struct IdRange {
  uint32_t uidBase = 0, gidBase = 0, size = 65536;
};

struct SysContInputs {
  // The container's exclusive host id range from sysvisor-mgr; nullopt when the spec already
  // maps ids (the caller asks specHasIdMappings() first and only asks mgr when it is false).
  std::optional<IdRange> range;
  // The host's kernel modules directory (/lib/modules/<release>) when it exists: bound
  // read-only at the same path, for tools inside (Docker's, kind's) that look for modules.
  std::string modulesDir = {};
  // The init is systemd (systemdInitPath found args[0] resolving to it in the image): the
  // container gets what systemd as PID 1 expects (tmpfs /run and /run/lock, container=).
  bool systemdInit = false;
};

struct SysContResult {
  IdRange range;                   // what the container's root maps to
  std::vector<std::string> notes;  // debug-log lines (e.g. "apparmor profile X ignored")
};

// The smallest id range a system container accepts (Sysbox's IdRangeMin): enough for the
// 0..65535 ids an ordinary distribution image uses.
inline constexpr uint32_t kMinIdRange = 65536;

// Syscalls a system container needs beyond a Docker-style profile; the transform allows them
// unless the caller's profile hands them to an agent, a tracer or the log.
std::vector<std::string_view> sysContSyscalls();

// Whether a program's path inside the image, every symlink resolved (/sbin/init ->
// /lib/systemd/systemd on Debian), is systemd's PID 1 binary: ".../systemd" in a "systemd"
// directory (/lib/systemd/systemd, /usr/lib/systemd/systemd, a /usr/local build).
bool isSystemdPath(std::string_view resolved);

// The value systemd reads from $container (systemd-detect-virt shows "container-other"); the
// spec's own container= is kept.
inline constexpr std::string_view kContainerEnv = "container=sysvisor";

// linux.uidMappings or linux.gidMappings are set (Docker's userns-remap, CRI-O, pods).
bool specHasIdMappings(const oci::Spec& spec);

// Rewrites spec in place into a system container (user and cgroup namespaces, full
// capabilities for root inside, a seccomp profile that allows mounting, the system
// container's /proc, /sys, /sys/fs/cgroup, /dev and /dev/kmsg mounts, /proc/sys writable).
// Throws SysContError, and then leaves spec as it was: every check comes before the rewrite.
SysContResult toSystemContainer(oci::Spec& spec, const SysContInputs& in);

// Root inside gets every capability (they only mean something in its user namespace), except
// with SYSVISOR_HONOR_CAPS=true in the process's environment; other users keep the spec's.
// Also used for `exec` into a system container.
void grantRootCapabilities(oci::Process& process);
bool honorsCaps(const oci::Process& process);

// The namespaces the spec joins by path. The transform cannot tell the host's namespaces from
// another container's (docker --net=container:X, pods): before it creates the container the
// caller must refuse any of these that is the host's own (the same inode as
// /proc/1/ns/<name>), which is how --net=host and friends arrive from some callers.
std::vector<oci::Namespace> namespacesToCheckAgainstHost(const oci::Spec& spec);

}  // namespace sv::runc
