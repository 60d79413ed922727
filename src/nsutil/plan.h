// The launch plan: everything the container init needs, resolved and validated up front so
// the child only executes it (no parsing, no lookups, no allocation after pivot_root). Built
// from an oci::Spec by buildPlan(); unit-testable without privileges.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nsutil/seccomp.h"
#include "oci/hooks.h"
#include "oci/spec.h"

namespace sv::ns {

struct CgroupHierarchy {
  std::string mountpoint;  // host mount point, e.g. /sys/fs/cgroup/cpu,cpuacct
  std::string superOpts;   // e.g. "cpu,cpuacct" or "name=systemd"; "" for cgroup2
  bool v2 = false;
};

// What the caller (the runtime command) adds to the spec.
struct PlanOptions {
  std::string bundle;  // absolute bundle directory
  bool noPivot = false;
  int preserveFds = 0;
  // The host's cgroup layout (parseCgroupLayout), needed when the spec mounts cgroups.
  std::vector<CgroupHierarchy> cgroupHierarchies;
};

enum class MountKind {
  kFs,         // mount(source, dest, type, flags, data)
  kBind,       // bind (recursive if rbind), then remount for flags, then propagation
  kCgroupV1,   // tmpfs + one cgroup mount per host hierarchy (or binds without cgroupns)
  kCgroupV2,   // a cgroup2 mount (or a bind without cgroupns)
};

struct PlannedMount {
  MountKind kind = MountKind::kFs;
  std::string source;       // absolute host path for binds; fs source otherwise
  std::string destination;  // inside the rootfs, absolute, normalised ("/proc")
  std::string type;
  unsigned long flags = 0;          // MS_* for the mount itself (without propagation)
  unsigned long clearFlags = 0;     // flags explicitly turned off (rw, suid, ...) for remounts
  std::vector<unsigned long> propagation;  // MS_SHARED/MS_SLAVE/... (| MS_REC), in order
  std::string data;                 // filesystem options not known as flags
  bool recursive = false;           // rbind
  uint64_t recAttrSet = 0, recAttrClr = 0;  // "rro", ... (MOUNT_ATTR_*, whole tree)
  bool remount = false;             // binds with flags beyond MS_BIND|MS_REC
  bool sourceIsDir = true;          // binds: create a directory (or an empty file) as target
  std::vector<oci::IdMapping> uidMappings, gidMappings;  // idmapped bind mounts
  bool idmapIfSupported = false;  // see oci::Mount
};

// An emulated file or directory of sysvisor-fs, bound over its path in the container: a plain
// bind (read-write: /proc/sys takes writes) with /proc's nosuid, nodev and noexec.
struct FsBind {
  std::string source;       // host path: the daemon's subtree root + destination
  std::string destination;  // inside the container, clean, below /proc or /sys
  uint64_t attrSet = 0;     // MOUNT_ATTR_* for the detached tree
};

struct PlannedDevice {
  std::string path;  // absolute inside the container ("/dev/null")
  mode_t mode = 0;   // S_IFCHR|0666 etc.
  dev_t dev = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  bool bindFromHost = false;  // inside a new user namespace mknod is refused: bind the host node
};

struct NsJoin {
  oci::NsType type;
  std::string path;
};

// struct sched_attr of sched_setattr(2) (SCHED_ATTR_SIZE_VER1), declared here because the
// kernel's header clashes with glibc's <sched.h>.
struct SchedAttr {
  uint32_t size = sizeof(SchedAttr);
  uint32_t policy = 0;
  uint64_t flags = 0;
  int32_t nice = 0;
  uint32_t priority = 0;
  uint64_t runtime = 0, deadline = 0, period = 0;
  uint32_t utilMin = 0, utilMax = 0;
};
static_assert(sizeof(SchedAttr) == 56);

struct LaunchPlan {
  // exec into a running container: joins only; no rootfs setup (setns into its mount
  // namespace already puts the process at the container's root).
  bool execMode = false;
  std::string rootfs;  // absolute, symlinks resolved
  bool readonlyRoot = false;
  bool noPivot = false;
  // No mount namespace of its own (runtime-spec: it inherits the runtime's): the mounts land
  // in the runtime's namespace on top of a bind of the rootfs (the runtime detaches that bind
  // at delete), "/" keeps its propagation, and the init chroots (pivot_root would move the
  // root of every process in the namespace).
  bool sharedMountNs = false;

  int cloneFlags = 0;            // namespaces to create (CLONE_NEW*)
  std::vector<NsJoin> joins;     // namespaces to join, user namespace first
  bool newUserNs = false;
  std::string uidMap, gidMap;    // "/proc/<pid>/uid_map" contents
  std::string timeOffsets;       // "/proc/<pid>/timens_offsets" contents
  bool needsIntermediate = false;  // joins or time offsets: unshare + fork instead of clone3

  std::optional<std::string> hostname, domainname;
  unsigned long rootPropagation = 0;       // applied to "/" before pivot (default MS_SLAVE|MS_REC)
  unsigned long rootPropagationAfter = 0;  // rootfsPropagation applied after pivot, 0 = none
  std::vector<PlannedMount> mounts;
  std::vector<CgroupHierarchy> cgroupHierarchies;  // for cgroup mounts
  // sysvisor-fs (the runtime sets fsBinds for a system container): before its first mount the
  // init has the runtime register it and receives the emulated files as detached trees, which
  // it mounts before mounts[fsBindsAt] (fsBindPosition): after the container's own /proc and
  // /sys, so later mounts on those paths (the spec's binds, the tmpfs on /sys/kernel/debug)
  // stay on top, and before sysctls, read-only and masked paths.
  bool fsBinds = false;
  size_t fsBindsAt = 0;
  bool setupDev = true;  // /dev is not bind-mounted: create devices and symlinks
  std::vector<PlannedDevice> devices;
  std::string cwd;

  // After pivot_root; all absolute paths inside the container.
  std::vector<std::pair<std::string, std::string>> sysctls;  // "/proc/sys/net/..." -> value
  std::vector<std::string> maskedPaths, readonlyPaths;

  // The process.
  // process.terminal: the init opens a pty in the container's devpts, makes the slave its
  // controlling terminal and stdio (and, for the container's init, /dev/console) and sends
  // the master to the runtime. Size 0x0 = leave the kernel's default.
  bool terminal = false;
  // Without process.terminal: a pty only for /dev/console (systemd as PID 1 writes its boot
  // and shutdown messages nowhere else); stdio stays as given and the master goes to the
  // runtime, which relays it to the init's stdout. The init only.
  bool consolePty = false;
  unsigned short consoleRows = 0, consoleCols = 0;
  std::vector<std::string> args, env;
  std::vector<std::string> execCandidates;  // args[0] resolved against PATH, in order
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additionalGids;
  std::optional<mode_t> umask;
  uint64_t capBounding = 0, capEffective = 0, capPermitted = 0, capInheritable = 0,
           capAmbient = 0;
  bool hasCapabilities = false;
  std::vector<oci::Rlimit> rlimits;
  std::optional<int> oomScoreAdj;
  bool noNewPrivileges = false;
  std::optional<unsigned long> personality;
  std::optional<int> ioPriority;  // ioprio_set(2) value: class << 13 | level
  std::optional<SchedAttr> scheduler;
  // LSM labels for the exec; the runtime clears them (with a debug line) on hosts without
  // the LSM, as runc does.
  std::string apparmorProfile, selinuxLabel;
  int preserveFds = 0;

  // Hooks the init runs itself (the runtime fills these in; see oci/hooks.h). hooksSync: the
  // init stops once its mounts are done, for the runtime's prestart/createRuntime hooks, and
  // receives the state texts for its own.
  bool hooksSync = false;

  // linux.seccomp, compiled by the runtime (seccomp::compile makes syscalls, so not the
  // planner); loaded by the init last (see seccomp::load for where exactly).
  seccomp::Program seccomp;
  std::vector<oci::Hook> createContainerHooks, startContainerHooks;
};

// Throws oci::SpecError / UserError for specs that cannot be run, with a message that says
// what to change.
LaunchPlan buildPlan(const oci::Spec& spec, const PlanOptions& options);

// The plan of `exec`: process p in the namespaces joins (user first) of a running container
// whose rootfs (host path, for HOME from its passwd) is given.
LaunchPlan buildExecPlan(const oci::Process& p, const std::string& rootfs,
                         std::vector<NsJoin> joins, int preserveFds);

// The paths the init tries for args[0], in order: itself when it has a '/' (relative ones
// against cwd), else each directory of env's PATH (the default PATH without one; an empty
// entry is cwd).
std::vector<std::string> execCandidates(const std::string& arg0,
                                        const std::vector<std::string>& env,
                                        const std::string& cwd);

// Where the sysvisor-fs binds go among mounts: right after the last mount on /proc or /sys,
// or at the end when there is none.
size_t fsBindPosition(const std::vector<PlannedMount>& mounts);

// sysvisor-fs's answer to register (the host directory of the container's subtree, the
// container paths to bind from it) as binds, in the daemon's order. Throws UserError for a
// root that is not a clean absolute path, and for a path that is not clean, absolute and below
// /proc or /sys, or that comes twice.
std::vector<FsBind> planFsBinds(const std::string& root, const std::vector<std::string>& binds);

// Reads the host's cgroup mounts (v1 hierarchies, v2) from mountinfo text.
void parseCgroupLayout(const std::string& mountinfo, PlanOptions& options);

// "/proc/<pid>/uid_map" text of mappings: "containerID hostID size" lines.
std::string idMapText(const std::vector<oci::IdMapping>& maps);

// The home directory of uid in /etc/passwd text ("/" when absent, as runc does).
std::string passwdHome(const std::string& passwd, uid_t uid);

// Turns a path into a clean absolute path ("/a//b/./c/" -> "/a/b/c"); ".." is resolved
// lexically and never climbs above "/".
std::string cleanPath(const std::string& path);

}  // namespace sv::ns
