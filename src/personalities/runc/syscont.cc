// The system-container transform (DESIGN.md §2; Sysbox's ConvertSpec where the design is
// silent). Every check comes first, then the rewrites, which do not fail: a refused spec is
// left as it was.
#include "personalities/runc/syscont.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <array>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

#include "nsutil/plan.h"

namespace sv::runc {
namespace {

using Json = nlohmann::json;
using oci::NsType;

// ---- tables

// Namespaces a system container must not share with the host, and the Docker flag that
// shares them (nullptr: Docker has none; a caller would have to drop the entry itself).
struct PrivateNs {
  NsType type;
  const char* hostFlag;
};
constexpr PrivateNs kPrivateNamespaces[] = {
    {NsType::kPid, "--pid=host"}, {NsType::kNetwork, "--net=host"}, {NsType::kIpc, "--ipc=host"},
    {NsType::kUts, "--uts=host"}, {NsType::kMount, nullptr},
};

// What root inside a system container does that a Docker profile denies a container without
// CAP_SYS_ADMIN: mount and the new mount API, namespaces (clone: Docker's profile masks
// CLONE_NEW* out of its flags; clone3 keeps the caller's ENOSYS rule so glibc falls back to
// clone), session keyrings (Docker inside creates one per container), pivot_root and chroot
// for nested runtimes, and its own hostname; name_to_handle_at (Docker allows it with
// CAP_SYS_ADMIN; systemd reads cgroup ids with it), which only names a file the caller can
// already reach; and what Docker allows with CAP_SYS_PTRACE (ptrace, pidfd_getfd, kcmp,
// process_vm_*: gdb and strace inside, a daemon taking an fd from its own helper), which the
// kernel confines to the container's own user and pid namespaces. open_by_handle_at and syslog
// stay denied: they reach past the container's namespaces.
constexpr std::string_view kSysContSyscalls[] = {
    "mount",       "umount",        "umount2",  "pivot_root",    "unshare",
    "setns",       "clone",         "keyctl",   "add_key",       "request_key",
    "sethostname", "setdomainname", "chroot",   "mount_setattr", "move_mount",
    "open_tree",   "fsopen",        "fsconfig", "fsmount",       "fspick",
    "name_to_handle_at", "ptrace", "pidfd_getfd", "kcmp",
    "process_vm_readv",  "process_vm_writev", "process_madvise",
};

// Actions that hand a syscall to someone the caller set up (a seccomp agent, a tracer) or let
// it run: the caller's rules for such a syscall are kept as they are.
constexpr std::string_view kDeferredActions[] = {"SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                                                 "SCMP_ACT_LOG"};

// The mounts every system container has, in the order they are placed (a parent before what
// is mounted under it). replace: the spec's own mount at that destination is overwritten;
// otherwise it is kept (a caller's /dev, say) and ours is only added when there is none.
struct MustMount {
  const char* destination;
  const char* type;
  const char* source;
  std::array<const char*, 5> options;  // nullptr-terminated when shorter
  bool replace;
};
constexpr std::array<const char*, 5> kEmptyReadOnly = {"ro", "nosuid", "noexec", "nodev",
                                                       "mode=755"};
// /sys without "ro": in the container's user namespace sysfs is already read-only where the
// host's settings are concerned. /sys/fs/cgroup read-write: the container's root owns its
// delegated cgroup subtree (systemd and Docker inside create cgroups). The read-only tmpfs on
// /sys/kernel/{debug,tracing}: debugfs and tracefs cannot be mounted in a user namespace, and
// systemd then fails its sys-kernel-{debug,tracing}.mount units; an existing mount satisfies
// them. /dev/kmsg: journald and dmesg-reading tools must not see the host's kernel log.
constexpr MustMount kMustMounts[] = {
    {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}, true},
    {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}, false},
    {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev"}, true},
    {"/sys/fs/cgroup", "cgroup", "cgroup", {"rw", "nosuid", "noexec", "nodev", "relatime"}, true},
    {"/sys/kernel/debug", "tmpfs", "tmpfs", kEmptyReadOnly, false},
    {"/sys/kernel/tracing", "tmpfs", "tmpfs", kEmptyReadOnly, false},
    {"/dev/kmsg", "bind", "/dev/null", {"bind", "rw"}, true},
};

// systemd as PID 1 (Sysbox does the same): /run and /run/lock are tmpfs on every systemd
// machine, and the image's own /run (a leftover pid file, a stale socket) must not show
// through. systemd would mount /run itself, but only after reading it: the runtime's is there
// from the start. A mount the spec has at either place is kept.
constexpr MustMount kSystemdMounts[] = {
    {"/run", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=755", "size=64m"}, false},
    {"/run/lock", "tmpfs", "tmpfs", {"nosuid", "nodev", "noexec", "mode=1777", "size=4m"}, false},
};

constexpr std::string_view kCgroupMountRoot = "/sys/fs/cgroup";

// ---- helpers

// path is dir or lies below it; both clean.
bool isUnder(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  return path == dir ||
         (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

const oci::Namespace* findNs(const oci::Linux& linux, NsType type) {
  for (const auto& n : linux.namespaces)
    if (n.type == type) return &n;
  return nullptr;
}

// null counts as absent, as in Go's encoding/json (what Docker writes with).
const Json* member(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// ---- checks

// linux.resources.devices has a rule allowing every device: Docker writes exactly
// {"allow": true, "access": "rwm"} for --privileged. runc's -1 wildcard is accepted too.
bool allowsAllDevices(const Json& resources) {
  if (!resources.is_object()) return false;
  const Json* devices = member(resources, "devices");
  if (!devices || !devices->is_array()) return false;
  auto wildcard = [](const Json* n) {
    return !n || (n->is_number_integer() && n->get<int64_t>() == -1);
  };
  for (const Json& d : *devices) {
    if (!d.is_object()) continue;
    const Json* allow = member(d, "allow");
    if (!allow || !allow->is_boolean() || !allow->get<bool>()) continue;
    const Json* type = member(d, "type");
    if (type && !(type->is_string() && (*type == "a" || *type == ""))) continue;
    if (!wildcard(member(d, "major")) || !wildcard(member(d, "minor"))) continue;
    const Json* access = member(d, "access");
    if (access) {
      if (!access->is_string()) continue;
      const auto& a = access->get_ref<const std::string&>();
      if (!a.empty() && (a.find('r') == std::string::npos || a.find('w') == std::string::npos ||
                         a.find('m') == std::string::npos))
        continue;
    }
    return true;
  }
  return false;
}

// Docker's --privileged spec: no masked or read-only paths, every device allowed, and
// CAP_SYS_ADMIN. Any one of them alone is an ordinary option (--security-opt
// systempaths=unconfined, --device-cgroup-rule, --cap-add) and stays accepted.
void refusePrivileged(const oci::Spec& spec) {
  if (!spec.linux || !spec.process || !spec.process->capabilities) return;
  const oci::Linux& linux = *spec.linux;
  if (!linux.maskedPaths.empty() || !linux.readonlyPaths.empty()) return;
  if (!allowsAllDevices(linux.resources)) return;
  const auto& bounding = spec.process->capabilities->bounding;
  if (std::find(bounding.begin(), bounding.end(), *oci::capFromName("CAP_SYS_ADMIN")) ==
      bounding.end())
    return;
  throw SysContError(
      "sysvisor-runc: --privileged is not supported: a system container already gets full "
      "capabilities inside its own user namespace; run without --privileged");
}

void refuseSharedNamespaces(const oci::Linux& linux) {
  for (const auto& p : kPrivateNamespaces) {
    if (findNs(linux, p.type)) continue;
    const char* name = oci::nsName(p.type);
    if (p.hostFlag)
      throw SysContError(fmt::format(
          "sysvisor-runc: system containers need their own {} namespace ({} is not supported); "
          "run without {}",
          name, p.hostFlag, p.hostFlag));
    throw SysContError(fmt::format(
        "sysvisor-runc: system containers need their own {} namespace (sharing the host's is "
        "not supported); add {{\"type\": \"{}\"}} to linux.namespaces",
        name, name));
  }
  const oci::Namespace* user = findNs(linux, NsType::kUser);
  if (user && !user->path.empty() && linux.uidMappings.empty() && linux.gidMappings.empty())
    throw SysContError(fmt::format(
        "sysvisor-runc: joining the user namespace at \"{}\" needs linux.uidMappings and "
        "linux.gidMappings that describe it (sysvisor-runc must know which host ids the "
        "container's root is); add that namespace's mappings, or drop its path so that "
        "sysvisor-runc creates a user namespace",
        user->path));
}

// ---- id mappings

// Merges mappings that continue each other in both container and host ids (userns-remap may
// write one subordinate range as several lines); the result is sorted by container id.
std::vector<oci::IdMapping> mergeMappings(std::vector<oci::IdMapping> maps, const char* kind) {
  std::sort(maps.begin(), maps.end(),
            [](const auto& a, const auto& b) { return a.containerID < b.containerID; });
  std::vector<oci::IdMapping> out;
  for (const auto& m : maps) {
    if (uint64_t{m.hostID} + m.size > uint64_t{UINT32_MAX} + 1 ||
        uint64_t{m.containerID} + m.size > uint64_t{UINT32_MAX} + 1)
      throw SysContError(fmt::format(
          "sysvisor-runc: linux.{}Mappings entry {} {} {} runs past id 4294967295; fix its size",
          kind, m.containerID, m.hostID, m.size));
    if (!out.empty()) {
      oci::IdMapping& last = out.back();
      if (uint64_t{last.containerID} + last.size == m.containerID &&
          uint64_t{last.hostID} + last.size == m.hostID) {
        last.size += m.size;
        continue;
      }
    }
    out.push_back(m);
  }
  return out;
}

// The one range a mapping list must come down to (Sysbox's rules), for messages as "uid".
oci::IdMapping singleRange(const std::vector<oci::IdMapping>& merged, const char* kind) {
  if (merged.size() != 1)
    throw SysContError(fmt::format(
        "sysvisor-runc: linux.{}Mappings must map one contiguous range of container ids onto "
        "one contiguous range of host ids, not {} separate ranges; give the container one "
        "subordinate range of at least {} ids",
        kind, merged.size(), kMinIdRange));
  const oci::IdMapping& m = merged.front();
  if (m.containerID != 0)
    throw SysContError(fmt::format(
        "sysvisor-runc: linux.{}Mappings do not map container {} 0 (root); map container ids "
        "starting at 0",
        kind, kind));
  if (m.size < kMinIdRange)
    throw SysContError(fmt::format(
        "sysvisor-runc: linux.{}Mappings map {} ids; a system container needs at least {} (its "
        "distribution uses ids up to 65534); use a larger subordinate range",
        kind, m.size, kMinIdRange));
  if (m.hostID == 0)
    throw SysContError(fmt::format(
        "sysvisor-runc: linux.{}Mappings map the container's root to host {} 0; a system "
        "container's root must be an unprivileged host id: map it to a subordinate range",
        kind, kind));
  return m;
}

// Validates the spec's own mappings and writes them back merged.
IdRange rangeFromSpec(oci::Linux& linux) {
  if (linux.uidMappings.empty() || linux.gidMappings.empty())
    throw SysContError(fmt::format(
        "sysvisor-runc: the spec has linux.{}Mappings but no linux.{}Mappings; a system "
        "container needs both (the same host range for uids and gids)",
        linux.uidMappings.empty() ? "gid" : "uid", linux.uidMappings.empty() ? "uid" : "gid"));
  std::vector<oci::IdMapping> uids = mergeMappings(linux.uidMappings, "uid");
  std::vector<oci::IdMapping> gids = mergeMappings(linux.gidMappings, "gid");
  const oci::IdMapping uid = singleRange(uids, "uid");
  const oci::IdMapping gid = singleRange(gids, "gid");
  if (uid.hostID != gid.hostID)
    throw SysContError(fmt::format(
        "sysvisor-runc: linux.uidMappings start at host id {} but linux.gidMappings at {}; a "
        "system container needs the same host base for uids and gids",
        uid.hostID, gid.hostID));
  linux.uidMappings = std::move(uids);
  linux.gidMappings = std::move(gids);
  return {uid.hostID, gid.hostID, std::min(uid.size, gid.size)};
}

IdRange rangeFromMgr(const std::optional<IdRange>& range) {
  // The caller's contract; a violation here is a bug in the runtime, not in the spec.
  if (!range)
    throw SysContError(
        "sysvisor-runc: the spec maps no ids and no id range came from sysvisor-mgr; is "
        "sysvisor-mgr running?");
  if (range->size < kMinIdRange || range->uidBase == 0 || range->gidBase == 0)
    throw SysContError(fmt::format(
        "sysvisor-runc: sysvisor-mgr handed out host ids {}/{} (+{}), which cannot hold a "
        "system container (it needs at least {} ids away from host root)",
        range->uidBase, range->gidBase, range->size, kMinIdRange));
  return *range;
}

// ---- rewrites

void addNamespaces(oci::Linux& linux, std::vector<std::string>& notes) {
  // All eight: the time namespace too, so a clock offset set inside (CRIU, tests of
  // time-travelling software) never reaches the host.
  for (NsType type : {NsType::kUser, NsType::kCgroup, NsType::kTime}) {
    if (findNs(linux, type)) continue;
    linux.namespaces.push_back({type, ""});
    notes.push_back(fmt::format("added a {} namespace", oci::nsName(type)));
  }
}

}  // namespace

bool honorsCaps(const oci::Process& process) {
  for (const auto& e : process.env) {
    if (!e.starts_with("SYSVISOR_HONOR_CAPS=")) continue;
    std::string v = e.substr(20);
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v == "true" || v == "1" || v == "yes";
  }
  return false;
}

void grantRootCapabilities(oci::Process& process) {
  // A non-root process keeps what the caller asked for: Docker already gives it empty
  // effective and permitted sets. SYSVISOR_HONOR_CAPS=true keeps the spec's (Sysbox's
  // SYSBOX_HONOR_CAPS): --cap-drop then means what it says.
  if (process.user.uid != 0 || honorsCaps(process)) return;
  std::vector<int> all;
  for (std::string_view name : oci::capabilityNames()) all.push_back(*oci::capFromName(name));
  oci::Capabilities& caps =
      process.capabilities ? *process.capabilities : process.capabilities.emplace();
  // Ambient stays as asked, and inheritable empty (Docker's fix for CVE-2022-24769): either
  // would hand the capabilities on to non-root programs.
  caps.bounding = caps.effective = caps.permitted = all;
  caps.inheritable.clear();
}

namespace {

// The names of rule r (nullptr when the rule is malformed: the seccomp compiler reports it).
Json* ruleNames(Json& r) {
  if (!r.is_object()) return nullptr;
  auto it = r.find("names");
  return it != r.end() && it->is_array() ? &*it : nullptr;
}

bool isDeferred(const Json& rule) {
  const Json* action = rule.is_object() ? member(rule, "action") : nullptr;
  if (!action || !action->is_string()) return false;
  const auto& a = action->get_ref<const std::string&>();
  return std::find(std::begin(kDeferredActions), std::end(kDeferredActions), a) !=
         std::end(kDeferredActions);
}

bool isSysContSyscall(const Json& name) {
  if (!name.is_string()) return false;
  const auto& n = name.get_ref<const std::string&>();
  return std::find(std::begin(kSysContSyscalls), std::end(kSysContSyscalls), n) !=
         std::end(kSysContSyscalls);
}

// Allows kSysContSyscalls in a caller's profile. Which of two rules with different actions for
// one syscall wins is libseccomp's choice (2.5.4 silently keeps the first unconditional one;
// the compiler keeps the profile's order per syscall), so the profile must say one thing per
// syscall: the names leave every other rule (an argument-filtered allow is covered by ours; an
// errno/kill rule is what we undo) and one unconditional allow rule goes first. Returns
// whether the profile changed.
bool allowSysContSyscalls(Json& profile, std::vector<std::string>& notes) {
  if (!profile.is_object()) return false;
  const Json* def = member(profile, "defaultAction");
  if (!def || !def->is_string()) return false;  // none, or the compiler's error to report
  Json* rules = profile.contains("syscalls") && profile["syscalls"].is_array()
                    ? &profile["syscalls"]
                    : nullptr;

  std::vector<std::string> deferred;
  if (rules)
    for (Json& r : *rules)
      if (Json* names = ruleNames(r); names && isDeferred(r))
        for (const Json& n : *names)
          if (isSysContSyscall(n)) deferred.push_back(n.get<std::string>());
  Json allow = Json::array();
  for (std::string_view name : kSysContSyscalls)
    if (std::find(deferred.begin(), deferred.end(), name) == deferred.end())
      allow.push_back(std::string(name));
  if (!deferred.empty())
    notes.push_back(fmt::format("seccomp: kept the caller's notify/trace/log rules for {}",
                                fmt::join(deferred, ", ")));

  bool changed = false;
  if (rules) {
    Json kept = Json::array();
    for (Json& r : *rules) {
      Json* names = ruleNames(r);
      if (!names || names->empty() || isDeferred(r)) {
        kept.push_back(std::move(r));
        continue;
      }
      Json left = Json::array();
      for (Json& n : *names)
        if (!(isSysContSyscall(n) && std::find(allow.begin(), allow.end(), n) != allow.end()))
          left.push_back(std::move(n));
      changed = changed || left.size() != names->size();
      if (left.empty()) continue;  // a rule only about syscalls the allow rule now covers
      *names = std::move(left);
      kept.push_back(std::move(r));
    }
    *rules = std::move(kept);
  }
  // Under an allow-all default the names are allowed once no rule denies them.
  if (*def == "SCMP_ACT_ALLOW" || allow.empty()) return changed;
  Json rule = {{"names", std::move(allow)}, {"action", "SCMP_ACT_ALLOW"}};
  if (!rules) {
    profile["syscalls"] = Json::array({std::move(rule)});
  } else {
    rules->insert(rules->begin(), std::move(rule));
  }
  notes.push_back("seccomp: allowed the syscalls a system container needs (mount, unshare, ...)");
  return true;
}

oci::Mount mustMount(const MustMount& m) {
  oci::Mount out;
  out.destination = m.destination;
  out.type = m.type;
  out.source = m.source;
  for (const char* o : m.options)
    if (o) out.options.emplace_back(o);
  return out;
}

bool sameMount(const oci::Mount& a, const oci::Mount& b) {
  return a.type == b.type && a.source == b.source && a.options == b.options &&
         a.uidMappings.empty() && a.gidMappings.empty();
}

// Where a new mount at dest goes so that the spec's order (the order of mounting) still puts
// parents first: before the first mount below dest, else after the run of mounts under its
// nearest mounted parent, else at the end.
size_t insertPosition(const std::vector<oci::Mount>& mounts, const std::string& dest) {
  for (size_t i = 0; i < mounts.size(); ++i)
    if (isUnder(ns::cleanPath(mounts[i].destination), dest)) return i;
  std::optional<size_t> parent;
  for (size_t i = 0; i < mounts.size(); ++i)
    if (isUnder(dest, ns::cleanPath(mounts[i].destination))) parent = i;
  if (!parent) return mounts.size();
  const std::string parentDest = ns::cleanPath(mounts[*parent].destination);
  size_t pos = *parent + 1;
  while (pos < mounts.size() && isUnder(ns::cleanPath(mounts[pos].destination), parentDest)) ++pos;
  return pos;
}

// Adds (or, for replace entries, overwrites) the table's mounts, parents before children.
template <size_t N>
void addMustMounts(std::vector<oci::Mount>& mounts, const MustMount (&table)[N],
                   std::vector<std::string>& notes) {
  for (const MustMount& must : table) {
    oci::Mount want = mustMount(must);
    auto it = std::find_if(mounts.begin(), mounts.end(), [&](const oci::Mount& m) {
      return ns::cleanPath(m.destination) == want.destination;
    });
    if (it != mounts.end()) {
      if (!must.replace || sameMount(*it, want)) continue;
      notes.push_back(fmt::format("replaced the spec's {} mount on {} with {}", it->type,
                                  want.destination, want.type));
      *it = std::move(want);
      continue;
    }
    notes.push_back(fmt::format("added a {} mount on {}", want.type, want.destination));
    const size_t pos = insertPosition(mounts, want.destination);
    mounts.insert(mounts.begin() + static_cast<std::ptrdiff_t>(pos), std::move(want));
  }
}

void rewriteMounts(std::vector<oci::Mount>& mounts, std::vector<std::string>& notes) {
  // The caller's cgroup mounts show the host's hierarchy (read-only under Docker); the
  // container gets its own delegated one below.
  std::erase_if(mounts, [&](const oci::Mount& m) {
    const std::string dest = ns::cleanPath(m.destination);
    if (!isUnder(dest, kCgroupMountRoot)) return false;
    notes.push_back(fmt::format("removed the spec's {} mount on {}", m.type, dest));
    return true;
  });
  addMustMounts(mounts, kMustMounts, notes);
}

// The host's kernel modules, read-only at their own path, unless the spec mounts something
// there already.
void addModules(std::vector<oci::Mount>& mounts, const std::string& dir,
                std::vector<std::string>& notes) {
  if (dir.empty()) return;
  for (const oci::Mount& m : mounts)
    if (isUnder(dir, ns::cleanPath(m.destination)) && ns::cleanPath(m.destination) != "/")
      return;
  oci::Mount m;
  m.destination = dir;
  m.type = "bind";
  m.source = dir;
  m.options = {"rbind", "ro", "nosuid", "nodev", "noexec"};
  mounts.push_back(std::move(m));
  notes.push_back(fmt::format("added the host's {} read-only", dir));
}

// /proc and /proc/sys leave the masked and read-only lists: the container's root owns its
// namespaced sysctls, and a user-namespaced container cannot change the host's anyway.
void unmaskProcSys(std::vector<std::string>& paths, const char* list,
                   std::vector<std::string>& notes) {
  std::erase_if(paths, [&](const std::string& p) {
    const std::string clean = ns::cleanPath(p);
    if (clean != "/proc" && !isUnder(clean, "/proc/sys")) return false;
    notes.push_back(fmt::format("removed {} from linux.{}", clean, list));
    return true;
  });
}

// systemd as PID 1: its /run and /run/lock, and $container, which tells it (and
// systemd-detect-virt) that it boots a container, not a machine.
void addSystemdSetup(oci::Spec& spec, std::vector<std::string>& notes) {
  addMustMounts(spec.mounts, kSystemdMounts, notes);
  if (!spec.process) return;
  auto& env = spec.process->env;
  if (std::any_of(env.begin(), env.end(), [](const std::string& e) {
        return e.starts_with("container=");
      }))
    return;
  env.emplace_back(kContainerEnv);
  notes.push_back(fmt::format("systemd init: added {} to the environment", kContainerEnv));
}

}  // namespace

bool isSystemdPath(std::string_view resolved) {
  const size_t slash = resolved.rfind('/');
  if (slash == std::string_view::npos || resolved.substr(slash + 1) != "systemd") return false;
  std::string_view dir = resolved.substr(0, slash);
  return dir == "/systemd" || dir.ends_with("/systemd");
}

std::vector<std::string_view> sysContSyscalls() {
  return {std::begin(kSysContSyscalls), std::end(kSysContSyscalls)};
}

bool specHasIdMappings(const oci::Spec& spec) {
  return spec.linux && (!spec.linux->uidMappings.empty() || !spec.linux->gidMappings.empty());
}

std::vector<oci::Namespace> namespacesToCheckAgainstHost(const oci::Spec& spec) {
  std::vector<oci::Namespace> out;
  if (!spec.linux) return out;
  for (const auto& n : spec.linux->namespaces)
    if (!n.path.empty()) out.push_back(n);
  return out;
}

namespace {

// Docker sets net.ipv4.ping_group_range to "0 2147483647" (every group may ping); in a user
// namespace the kernel only takes groups the namespace maps, so the range ends at the last
// mapped one (Sysbox does the same).
void clampPingGroupRange(oci::Linux& linux, const IdRange& range, std::vector<std::string>& notes) {
  auto it = linux.sysctl.find("net.ipv4.ping_group_range");
  if (it == linux.sysctl.end()) return;
  unsigned long long lo = 0, hi = 0;
  char extra = 0;
  if (std::sscanf(it->second.c_str(), "%llu %llu %c", &lo, &hi, &extra) != 2) return;
  const unsigned long long last = range.size - 1;
  if (hi <= last) return;
  std::string value = fmt::format("{} {}", std::min(lo, last), last);
  notes.push_back(fmt::format("net.ipv4.ping_group_range \"{}\" clamped to \"{}\" (the mapped "
                              "groups)",
                              it->second, value));
  it->second = value;
}

}  // namespace

SysContResult toSystemContainer(oci::Spec& spec, const SysContInputs& in) {
  refusePrivileged(spec);
  // Without a linux section there are no namespaces at all, which this refuses.
  refuseSharedNamespaces(spec.linux ? *spec.linux : oci::Linux{});
  oci::Linux& linux = *spec.linux;

  SysContResult result;
  std::vector<std::string>& notes = result.notes;
  if (specHasIdMappings(spec)) {
    result.range = rangeFromSpec(linux);
    if (in.range) notes.push_back("ignored the id range from sysvisor-mgr: the spec maps ids");
  } else {
    result.range = rangeFromMgr(in.range);
    linux.uidMappings = {{0, result.range.uidBase, result.range.size}};
    linux.gidMappings = {{0, result.range.gidBase, result.range.size}};
  }
  notes.push_back(fmt::format("container ids 0-{} map to host uids from {} and gids from {}",
                              result.range.size - 1, result.range.uidBase, result.range.gidBase));
  addNamespaces(linux, notes);

  if (spec.process) {
    grantRootCapabilities(*spec.process);
    if (!spec.process->apparmorProfile.empty()) {
      notes.push_back(fmt::format(
          "apparmor profile \"{}\" ignored: a system container is confined by its user namespace",
          spec.process->apparmorProfile));
      spec.process->apparmorProfile.clear();
    }
  }
  if (allowSysContSyscalls(linux.seccomp, notes)) linux.seccompJson = linux.seccomp.dump();

  rewriteMounts(spec.mounts, notes);
  if (in.systemdInit) addSystemdSetup(spec, notes);
  addModules(spec.mounts, in.modulesDir, notes);
  unmaskProcSys(linux.maskedPaths, "maskedPaths", notes);
  unmaskProcSys(linux.readonlyPaths, "readonlyPaths", notes);
  clampPingGroupRange(linux, result.range, notes);
  return result;
}

}  // namespace sv::runc
