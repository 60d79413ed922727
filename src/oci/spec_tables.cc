// Name <-> number tables for the OCI spec: namespaces, capabilities, rlimits. One constexpr
// array per table; the lookups are linear because the tables are tiny and this keeps them
// static data with no start-up cost.
#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>

#include <iterator>
#include <string_view>

#include "oci/spec.h"

namespace sv::oci {
namespace {

struct NsInfo {
  NsType type;
  const char* name;      // OCI "linux.namespaces[].type"
  const char* procName;  // /proc/<pid>/ns/<procName>
  int cloneFlag;
};

// Indexed by NsType; the static_assert below keeps the order honest.
constexpr NsInfo kNamespaces[] = {
    {NsType::kPid, "pid", "pid", CLONE_NEWPID},
    {NsType::kNetwork, "network", "net", CLONE_NEWNET},
    {NsType::kMount, "mount", "mnt", CLONE_NEWNS},
    {NsType::kIpc, "ipc", "ipc", CLONE_NEWIPC},
    {NsType::kUts, "uts", "uts", CLONE_NEWUTS},
    {NsType::kUser, "user", "user", CLONE_NEWUSER},
    {NsType::kCgroup, "cgroup", "cgroup", CLONE_NEWCGROUP},
    {NsType::kTime, "time", "time", CLONE_NEWTIME},
};

constexpr bool namespacesIndexedByType() {
  for (size_t i = 0; i < std::size(kNamespaces); ++i) {
    if (static_cast<size_t>(kNamespaces[i].type) != i) return false;
  }
  return std::size(kNamespaces) == static_cast<size_t>(NsType::kTime) + 1;
}
static_assert(namespacesIndexedByType(), "kNamespaces must list every NsType in enum order");

struct NamedValue {
  std::string_view name;
  int value;
};

// Every capability <linux/capability.h> knows, indexed by number.
constexpr NamedValue kCapabilities[] = {
    {"CAP_CHOWN", CAP_CHOWN},
    {"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
    {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
    {"CAP_FOWNER", CAP_FOWNER},
    {"CAP_FSETID", CAP_FSETID},
    {"CAP_KILL", CAP_KILL},
    {"CAP_SETGID", CAP_SETGID},
    {"CAP_SETUID", CAP_SETUID},
    {"CAP_SETPCAP", CAP_SETPCAP},
    {"CAP_LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE},
    {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
    {"CAP_NET_BROADCAST", CAP_NET_BROADCAST},
    {"CAP_NET_ADMIN", CAP_NET_ADMIN},
    {"CAP_NET_RAW", CAP_NET_RAW},
    {"CAP_IPC_LOCK", CAP_IPC_LOCK},
    {"CAP_IPC_OWNER", CAP_IPC_OWNER},
    {"CAP_SYS_MODULE", CAP_SYS_MODULE},
    {"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
    {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
    {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
    {"CAP_SYS_PACCT", CAP_SYS_PACCT},
    {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
    {"CAP_SYS_BOOT", CAP_SYS_BOOT},
    {"CAP_SYS_NICE", CAP_SYS_NICE},
    {"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE},
    {"CAP_SYS_TIME", CAP_SYS_TIME},
    {"CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
    {"CAP_MKNOD", CAP_MKNOD},
    {"CAP_LEASE", CAP_LEASE},
    {"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
    {"CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL},
    {"CAP_SETFCAP", CAP_SETFCAP},
    {"CAP_MAC_OVERRIDE", CAP_MAC_OVERRIDE},
    {"CAP_MAC_ADMIN", CAP_MAC_ADMIN},
    {"CAP_SYSLOG", CAP_SYSLOG},
    {"CAP_WAKE_ALARM", CAP_WAKE_ALARM},
    {"CAP_BLOCK_SUSPEND", CAP_BLOCK_SUSPEND},
    {"CAP_AUDIT_READ", CAP_AUDIT_READ},
    {"CAP_PERFMON", CAP_PERFMON},
    {"CAP_BPF", CAP_BPF},
    {"CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE},
};

constexpr bool indexedByValue(const NamedValue* table, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (table[i].value != static_cast<int>(i)) return false;
  }
  return true;
}
static_assert(std::size(kCapabilities) == CAP_LAST_CAP + 1,
              "kCapabilities must list every capability up to CAP_LAST_CAP");
static_assert(indexedByValue(kCapabilities, std::size(kCapabilities)));

constexpr NamedValue kRlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};
static_assert(std::size(kRlimits) == RLIMIT_NLIMITS, "kRlimits must list every RLIMIT_*");
static_assert(indexedByValue(kRlimits, std::size(kRlimits)));

template <size_t N>
std::optional<int> lookup(const NamedValue (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

const NsInfo& nsInfo(NsType t) {
  return kNamespaces[static_cast<size_t>(t)];
}

}  // namespace

std::optional<NsType> nsTypeFromName(std::string_view name) {
  for (const auto& ns : kNamespaces) {
    if (ns.name == name) return ns.type;
  }
  return std::nullopt;
}

const char* nsName(NsType t) {
  return nsInfo(t).name;
}
const char* nsProcName(NsType t) {
  return nsInfo(t).procName;
}
int nsCloneFlag(NsType t) {
  return nsInfo(t).cloneFlag;
}

std::optional<int> capFromName(std::string_view name) {
  return lookup(kCapabilities, name);
}
std::optional<int> rlimitFromName(std::string_view name) {
  return lookup(kRlimits, name);
}
const char* rlimitName(int resource) noexcept {
  if (resource < 0 || static_cast<size_t>(resource) >= std::size(kRlimits)) return "RLIMIT_?";
  return kRlimits[resource].name.data();  // a literal: NUL-terminated
}

std::vector<std::string_view> namespaceNames() {
  std::vector<std::string_view> out;
  for (const auto& n : kNamespaces) out.push_back(n.name);
  return out;
}

std::vector<std::string_view> capabilityNames() {
  std::vector<std::string_view> out;
  for (const auto& c : kCapabilities) out.push_back(c.name);
  return out;
}

}  // namespace sv::oci
