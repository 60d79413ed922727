// OCI runtime-spec (1.2) values: plain data, no syscalls. Parsed from config.json by
// parseSpec(); everything the runtime needs from the bundle ends up here.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sv::oci {

// Thrown for a config.json that is not valid JSON or breaks the spec. The message names the
// field (e.g. "process.args[0]") or, for syntax errors, the byte offset / line and column.
class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additionalGids;
};

struct Capabilities {
  // Capability numbers (CAP_CHOWN == 0 ...); names are validated and converted at parse time.
  std::vector<int> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_* number
  uint64_t hard = 0, soft = 0;
};

struct ConsoleSize {
  unsigned height = 0, width = 0;
};

// process.ioPriority: ioprio_set(2) of the process.
struct IoPriority {
  int ioClass = 0;  // IOPRIO_CLASS_RT 1, _BE 2, _IDLE 3
  int priority = 0;  // 0..7
};

// process.scheduler: sched_setattr(2) of the process.
struct Scheduler {
  int policy = 0;  // SCHED_OTHER 0, _FIFO 1, _RR 2, _BATCH 3, _ISO 4, _IDLE 5, _DEADLINE 6
  int nice = 0;
  int priority = 0;
  uint64_t flags = 0;  // SCHED_FLAG_*
  uint64_t runtime = 0, deadline = 0, period = 0;  // ns, SCHED_DEADLINE
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> consoleSize;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;  // absolute
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool noNewPrivileges = false;
  std::string apparmorProfile;
  std::optional<int> oomScoreAdj;
  std::string selinuxLabel;
  std::optional<IoPriority> ioPriority;
  std::optional<Scheduler> scheduler;
};

struct Root {
  std::string path;  // as written in config.json (may be relative to the bundle)
  bool readonly = false;
};

struct IdMapping {
  uint32_t containerID = 0;
  uint32_t hostID = 0;
  uint32_t size = 0;
};

struct Mount {
  std::string destination;
  std::string type;  // may be empty (then "bind" if options contain bind/rbind)
  std::string source;
  std::vector<std::string> options;
  std::vector<IdMapping> uidMappings;  // idmapped bind mounts
  std::vector<IdMapping> gidMappings;
  // Not from config.json: the system-container transform idmaps every bind it can; where the
  // source's filesystem cannot be idmapped, the bind is made as it is.
  bool idmapIfSupported = false;
};

enum class NsType { kPid, kNetwork, kMount, kIpc, kUts, kUser, kCgroup, kTime };

struct Namespace {
  NsType type;
  std::string path;  // empty: create a new one; otherwise join the namespace at path
};

struct Device {
  char type = 'c';  // 'c', 'b', 'u' (== 'c'), 'p'
  std::string path;
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> fileMode;
  std::optional<uint32_t> uid, gid;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uidMappings, gidMappings;
  std::map<std::string, TimeOffset> timeOffsets;  // "monotonic", "boottime"
  std::vector<Device> devices;
  std::string cgroupsPath;
  // linux.resources, linux.seccomp, hooks: interpreted by the code that applies them, from the
  // value parsed with config.json (null when absent), so nobody parses them again. Their text
  // (compact, "" when absent) is what state.json keeps. Both hold all a caller sent.
  std::string resourcesJson;
  std::string seccompJson;
  nlohmann::json resources;
  nlohmann::json seccomp;
  std::string rootfsPropagation;  // "", "private", "rprivate", "slave", "rslave", "shared", ...
  std::vector<std::string> maskedPaths;
  std::vector<std::string> readonlyPaths;
  std::map<std::string, std::string> sysctl;
  std::string mountLabel;
  std::optional<unsigned long> personalityDomain;  // PER_LINUX / PER_LINUX32
  std::vector<std::string> personalityFlags;
};

struct Spec {
  std::string ociVersion;
  Root root;
  std::vector<Mount> mounts;
  std::optional<Process> process;
  std::string hostname;
  std::string domainname;
  std::map<std::string, std::string> annotations;
  std::string hooksJson;  // raw, see Linux::resourcesJson
  nlohmann::json hooks;
  std::optional<Linux> linux;
};

// Parses and validates config.json text. Throws SpecError.
Spec parseSpec(const std::string& json);

// The default config.json that `spec` writes (runc's, adjusted for sysvisor where noted).
std::string defaultSpecJson(bool rootless);

// Table helpers (constexpr tables live in the .cc files).
std::optional<NsType> nsTypeFromName(std::string_view name);
const char* nsName(NsType t);              // "pid", "network", ...
const char* nsProcName(NsType t);          // "pid", "net", ... (/proc/<pid>/ns/<name>)
int nsCloneFlag(NsType t);                 // CLONE_NEWPID, ...
std::optional<int> capFromName(std::string_view name);      // "CAP_CHOWN" -> 0
std::optional<int> rlimitFromName(std::string_view name);   // "RLIMIT_NOFILE" -> 7
const char* rlimitName(int resource) noexcept;              // 7 -> "RLIMIT_NOFILE" (no alloc)
// Every name the tables know, in table order (for `features`).
std::vector<std::string_view> namespaceNames();
std::vector<std::string_view> capabilityNames();

}  // namespace sv::oci
