#include "nsutil/plan.h"

#include <fmt/format.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <linux/mount.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <string_view>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/mount_options.h"

namespace sv::ns {

namespace {

std::string readContainerPasswd(const std::string& rootfs);

constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
// runc's default device nodes (all 0666 character devices).
constexpr DefaultDevice kDefaultDevices[] = {
    {"/dev/null", 1, 3},    {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
    {"/dev/random", 1, 8},  {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

// Sysctl prefixes that live in a namespace, and which namespace must be private for them.
struct SysctlRule {
  std::string_view prefix;
  bool exact;
  oci::NsType ns;
};
constexpr SysctlRule kSysctlRules[] = {
    {"kernel.msgmax", true, oci::NsType::kIpc},       {"kernel.msgmnb", true, oci::NsType::kIpc},
    {"kernel.msgmni", true, oci::NsType::kIpc},       {"kernel.sem", true, oci::NsType::kIpc},
    {"kernel.shmall", true, oci::NsType::kIpc},       {"kernel.shmmax", true, oci::NsType::kIpc},
    {"kernel.shmmni", true, oci::NsType::kIpc},       {"kernel.shm_rmid_forced", true, oci::NsType::kIpc},
    {"fs.mqueue.", false, oci::NsType::kIpc},         {"net.", false, oci::NsType::kNetwork},
    {"kernel.hostname", true, oci::NsType::kUts},     {"kernel.domainname", true, oci::NsType::kUts},
};


uint64_t capMask(const std::vector<int>& caps) {
  uint64_t mask = 0;
  for (int c : caps) mask |= uint64_t{1} << c;
  return mask;
}

std::string resolveRootfs(const oci::Spec& spec, const PlanOptions& options) {
  std::string path = spec.root.path;
  if (path.empty() || path[0] != '/') path = options.bundle + "/" + path;
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf))
    throw UserError(fmt::format(
        "rootfs \"{}\" (root.path in config.json) does not exist: create it or fix root.path",
        path));
  struct stat st;
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    throw UserError(fmt::format("rootfs \"{}\" is not a directory", buf));
  return buf;
}

bool hasNewNs(const oci::Linux& linux, oci::NsType t) {
  for (const auto& n : linux.namespaces)
    if (n.type == t && n.path.empty()) return true;
  return false;
}
bool hasNs(const oci::Linux& linux, oci::NsType t) {
  for (const auto& n : linux.namespaces)
    if (n.type == t) return true;
  return false;
}

void planNamespaces(const oci::Linux& linux, LaunchPlan& plan) {
  for (const auto& n : linux.namespaces) {
    if (n.path.empty()) {
      plan.cloneFlags |= oci::nsCloneFlag(n.type);
      continue;
    }
    if (n.path[0] != '/')
      throw UserError(fmt::format("namespace path \"{}\" for \"{}\" must be absolute", n.path,
                                  oci::nsName(n.type)));
    struct stat st;
    if (::stat(n.path.c_str(), &st) != 0)
      throw UserError(fmt::format("cannot join {} namespace at \"{}\": it does not exist",
                                  oci::nsName(n.type), n.path));
    plan.joins.push_back({n.type, n.path});
  }
  // Join the user namespace first: the others are owned by it and need its capabilities.
  std::stable_partition(plan.joins.begin(), plan.joins.end(),
                        [](const NsJoin& j) { return j.type == oci::NsType::kUser; });
  plan.newUserNs = (plan.cloneFlags & CLONE_NEWUSER) != 0;
  if (plan.newUserNs) {
    if (linux.uidMappings.empty() || linux.gidMappings.empty())
      throw UserError(
          "a new user namespace needs linux.uidMappings and linux.gidMappings in config.json");
    plan.uidMap = idMapText(linux.uidMappings);
    plan.gidMap = idMapText(linux.gidMappings);
  }
  for (const auto& [clock, off] : linux.timeOffsets)
    plan.timeOffsets += fmt::format("{} {} {}\n", clock, off.secs, off.nanosecs);
  if (!plan.timeOffsets.empty() && !(plan.cloneFlags & CLONE_NEWTIME))
    throw UserError("linux.timeOffsets need a new time namespace in linux.namespaces");
  plan.needsIntermediate = !plan.joins.empty() || !plan.timeOffsets.empty();
}

void planCgroupMount(const oci::Mount& m, const ParsedMountOptions& opts,
                     const PlanOptions& options, LaunchPlan& plan) {
  PlannedMount pm;
  pm.destination = cleanPath(m.destination);
  pm.source = m.source;
  pm.flags = opts.flags;
  pm.propagation = opts.propagation;
  // A host is pure v2 when cgroup2 itself is mounted at /sys/fs/cgroup (more cgroup2 mounts
  // elsewhere, as with nested runtimes, do not change that).
  bool pureV2 = false;
  for (const auto& h : options.cgroupHierarchies)
    pureV2 = pureV2 || (h.v2 && h.mountpoint == "/sys/fs/cgroup");
  pm.kind = pureV2 ? MountKind::kCgroupV2 : MountKind::kCgroupV1;
  pm.type = pureV2 ? "cgroup2" : "cgroup";
  plan.mounts.push_back(std::move(pm));
  plan.cgroupHierarchies = options.cgroupHierarchies;
}

void planMounts(const oci::Spec& spec, const PlanOptions& options, LaunchPlan& plan) {
  for (const auto& m : spec.mounts) {
    ParsedMountOptions opts = parseMountOptions(m.options);
    std::string type = m.type;
    if (type.empty() && opts.bind) type = "bind";
    if (type == "cgroup" || type == "cgroup2") {
      planCgroupMount(m, opts, options, plan);
      continue;
    }
    PlannedMount pm;
    pm.destination = cleanPath(m.destination);
    pm.type = type;
    pm.flags = opts.flags;
    pm.clearFlags = opts.clearFlags;
    pm.propagation = opts.propagation;
    pm.data = opts.data;
    pm.recAttrSet = opts.recAttrSet;
    pm.recAttrClr = opts.recAttrClr;
    pm.uidMappings = m.uidMappings;
    pm.gidMappings = m.gidMappings;
    pm.idmapIfSupported = m.idmapIfSupported;
    if (type == "bind" || opts.bind) {
      pm.kind = MountKind::kBind;
      pm.recursive = opts.recursive;
      std::string src = m.source;
      if (src.empty())
        throw UserError(fmt::format("bind mount to \"{}\" has no source", m.destination));
      if (src[0] != '/') src = options.bundle + "/" + src;
      struct stat st;
      if (::stat(src.c_str(), &st) != 0)
        throw UserError(fmt::format("bind mount source \"{}\" for \"{}\" does not exist", src,
                                    m.destination));
      pm.source = src;
      pm.sourceIsDir = S_ISDIR(st.st_mode);
      pm.remount = (pm.flags & ~(MS_REC | MS_REMOUNT)) != 0 || pm.clearFlags != 0;
      if (pm.destination == "/dev") plan.setupDev = false;
    } else {
      pm.kind = MountKind::kFs;
      pm.source = m.source.empty() ? type : m.source;
      if (type.empty())
        throw UserError(fmt::format("mount to \"{}\" has no type", m.destination));
    }
    plan.mounts.push_back(std::move(pm));
  }
}

void planDevices(const oci::Linux* linux, LaunchPlan& plan) {
  if (!plan.setupDev) return;
  // mknod is refused in any user namespace but the initial one, new or joined.
  bool inUserNs = plan.newUserNs;
  for (const auto& j : plan.joins) {
    struct stat joined, own;
    if (j.type == oci::NsType::kUser &&
        (::stat(j.path.c_str(), &joined) != 0 || ::stat("/proc/self/ns/user", &own) != 0 ||
         joined.st_ino != own.st_ino || joined.st_dev != own.st_dev))
      inUserNs = true;
  }
  auto add = [&](PlannedDevice d) {
    d.bindFromHost = inUserNs;
    for (auto& existing : plan.devices)
      if (existing.path == d.path) {
        existing = d;
        return;
      }
    plan.devices.push_back(std::move(d));
  };
  for (const auto& d : kDefaultDevices)
    add({d.path, S_IFCHR | 0666, makedev(d.major, d.minor), 0, 0, false});
  if (!linux) return;
  for (const auto& d : linux->devices) {
    PlannedDevice pd;
    pd.path = cleanPath(d.path);
    mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    pd.mode = type | (d.fileMode ? (*d.fileMode & 07777) : 0666);
    pd.dev = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    pd.uid = d.uid.value_or(0);
    pd.gid = d.gid.value_or(0);
    add(std::move(pd));
  }
}

void planSysctls(const oci::Linux& linux, LaunchPlan& plan) {
  for (const auto& [key, value] : linux.sysctl) {
    const SysctlRule* rule = nullptr;
    for (const auto& r : kSysctlRules) {
      if (r.exact ? key == r.prefix : key.starts_with(r.prefix)) {
        rule = &r;
        break;
      }
    }
    if (!rule)
      throw UserError(fmt::format(
          "sysctl \"{}\" is not in a separate kernel namespace: a container may not set it", key));
    if (!hasNewNs(linux, rule->ns) && !hasNs(linux, rule->ns))
      throw UserError(fmt::format("sysctl \"{}\" needs a private {} namespace", key,
                                  oci::nsName(rule->ns)));
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    plan.sysctls.emplace_back(std::move(path), value);
  }
}

void planProcess(const oci::Process& p, LaunchPlan& plan) {
  plan.terminal = p.terminal;
  if (p.ioPriority) plan.ioPriority = p.ioPriority->ioClass << 13 | p.ioPriority->priority;
  if (p.scheduler) {
    SchedAttr a;
    a.policy = static_cast<uint32_t>(p.scheduler->policy);
    a.flags = p.scheduler->flags;
    a.nice = p.scheduler->nice;
    a.priority = static_cast<uint32_t>(p.scheduler->priority);
    a.runtime = p.scheduler->runtime;
    a.deadline = p.scheduler->deadline;
    a.period = p.scheduler->period;
    plan.scheduler = a;
  }
  plan.apparmorProfile = p.apparmorProfile;
  plan.selinuxLabel = p.selinuxLabel;
  if (p.consoleSize) {
    if (p.consoleSize->height > 0xffff || p.consoleSize->width > 0xffff)
      throw UserError("process.consoleSize: height and width must be below 65536");
    plan.consoleRows = static_cast<unsigned short>(p.consoleSize->height);
    plan.consoleCols = static_cast<unsigned short>(p.consoleSize->width);
  }
  plan.args = p.args;
  plan.env = p.env;
  bool hasHome = false;
  for (const auto& e : p.env) hasHome = hasHome || e.starts_with("HOME=");
  if (!hasHome) plan.env.push_back("HOME=" + passwdHome(readContainerPasswd(plan.rootfs), p.user.uid));
  plan.cwd = p.cwd.empty() ? "/" : cleanPath(p.cwd);
  plan.uid = p.user.uid;
  plan.gid = p.user.gid;
  plan.additionalGids.assign(p.user.additionalGids.begin(), p.user.additionalGids.end());
  if (p.user.umask) plan.umask = static_cast<mode_t>(*p.user.umask);
  if (p.capabilities) {
    plan.hasCapabilities = true;
    plan.capBounding = capMask(p.capabilities->bounding);
    plan.capEffective = capMask(p.capabilities->effective);
    plan.capPermitted = capMask(p.capabilities->permitted);
    plan.capInheritable = capMask(p.capabilities->inheritable);
    plan.capAmbient = capMask(p.capabilities->ambient);
  }
  plan.rlimits = p.rlimits;
  plan.oomScoreAdj = p.oomScoreAdj;
  plan.noNewPrivileges = p.noNewPrivileges;

  // args[0] is looked up in the container's PATH after pivot_root; precompute the candidates
  // here so the child does no allocation.
  plan.execCandidates = execCandidates(p.args.at(0), p.env, plan.cwd);
}

}  // namespace

std::vector<std::string> execCandidates(const std::string& arg0,
                                        const std::vector<std::string>& env,
                                        const std::string& cwd) {
  if (arg0.find('/') != std::string::npos)
    return {arg0[0] == '/' ? arg0 : cleanPath(cwd + "/" + arg0)};
  std::vector<std::string> out;
  std::string_view path = kDefaultPath;
  for (const auto& e : env)
    if (e.starts_with("PATH=")) path = std::string_view(e).substr(5);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    if (dir.empty()) dir = cwd;
    if (dir[0] == '/') out.push_back(cleanPath(dir + "/" + arg0));
    start = end + 1;
  }
  return out;
}

namespace {

// The container's /etc/passwd, read without following symlinks out of the rootfs and without
// blocking on a FIFO planted in the image; "" if it is missing or not a regular file.
std::string readContainerPasswd(const std::string& rootfs) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return {};
  UniqueFd fd(sv::openat2(root.get(), "etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY,
                          RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20))
    return {};
  std::string text(static_cast<size_t>(st.st_size), '\0');
  ssize_t n = ::read(fd.get(), text.data(), text.size());
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

// mountinfo writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
std::string unescapeMountinfo(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    bool octal = in[i] == '\\' && i + 3 < in.size();
    for (size_t k = 1; octal && k <= 3; ++k) octal = in[i + k] >= '0' && in[i + k] <= '7';
    if (!octal) {
      out += in[i];
      continue;
    }
    out += static_cast<char>((in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0'));
    i += 3;
  }
  return out;
}

}  // namespace

std::string idMapText(const std::vector<oci::IdMapping>& maps) {
  std::string out;
  for (const auto& m : maps) out += fmt::format("{} {} {}\n", m.containerID, m.hostID, m.size);
  return out;
}

std::string passwdHome(const std::string& passwd, uid_t uid) {
  std::istringstream in(passwd);
  std::string line;
  while (std::getline(in, line)) {
    // name:password:uid:gid:gecos:home:shell
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i)
      if (i == line.size() || line[i] == ':') {
        f.push_back(line.substr(start, i - start));
        start = i + 1;
      }
    if (f.size() < 7 || f[2] != std::to_string(uid)) continue;
    return f[5].empty() ? "/" : f[5];
  }
  return "/";
}

std::string cleanPath(const std::string& path) {
  std::vector<std::string_view> parts;
  std::string_view s(path);
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view part = s.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

void parseCgroupLayout(const std::string& mountinfo, PlanOptions& options) {
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream pre(line.substr(0, sep));
    std::string id, parent, dev, root, mountpoint;
    pre >> id >> parent >> dev >> root >> mountpoint;
    mountpoint = unescapeMountinfo(mountpoint);
    std::istringstream post(line.substr(sep + 3));
    std::string fstype, source, superOpts;
    post >> fstype >> source >> superOpts;
    // Only whole hierarchies under /sys/fs/cgroup: binds of a sub-cgroup (root != "/") and
    // mounts elsewhere (a nested runtime's view) are not the host's layout.
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    if (root != "/" || !(mountpoint == "/sys/fs/cgroup" || mountpoint.starts_with("/sys/fs/cgroup/")))
      continue;
    CgroupHierarchy h;
    h.mountpoint = mountpoint;
    h.v2 = fstype == "cgroup2";
    if (!h.v2) {
      // Keep only the controller and name= words; drop rw, relatime, ...
      std::string kept;
      std::istringstream opts(superOpts);
      std::string word;
      while (std::getline(opts, word, ',')) {
        if (word == "rw" || word == "ro" || word.starts_with("release_agent") ||
            word == "clone_children" || word == "noprefix" || word == "xattr" ||
            word == "cpuset_v2_mode" || word == "favordynmods")
          continue;
        if (!kept.empty()) kept += ',';
        kept += word;
      }
      h.superOpts = kept;
    }
    bool duplicate = false;
    for (const auto& seen : options.cgroupHierarchies)
      duplicate = duplicate || (seen.v2 == h.v2 && seen.superOpts == h.superOpts);
    if (!duplicate) options.cgroupHierarchies.push_back(std::move(h));
  }
}

LaunchPlan buildExecPlan(const oci::Process& p, const std::string& rootfs,
                         std::vector<NsJoin> joins, int preserveFds) {
  if (p.args.empty()) throw UserError("exec needs a command to run");
  LaunchPlan plan;
  plan.execMode = true;
  plan.rootfs = rootfs;
  plan.setupDev = false;
  plan.joins = std::move(joins);
  std::stable_partition(plan.joins.begin(), plan.joins.end(),
                        [](const NsJoin& j) { return j.type == oci::NsType::kUser; });
  plan.needsIntermediate = true;
  plan.preserveFds = preserveFds;
  planProcess(p, plan);
  return plan;
}

size_t fsBindPosition(const std::vector<PlannedMount>& mounts) {
  size_t at = mounts.size();
  for (size_t i = 0; i < mounts.size(); ++i)
    if (mounts[i].destination == "/proc" || mounts[i].destination == "/sys") at = i + 1;
  return at;
}

std::vector<FsBind> planFsBinds(const std::string& root, const std::vector<std::string>& binds) {
  if (root.empty() || root[0] != '/' || root == "/" || cleanPath(root) != root)
    throw UserError(fmt::format("sysvisor-fs answered with the subtree \"{}\", not a clean "
                                "absolute path (is it the same version as sysvisor-runc?)",
                                root));
  std::vector<FsBind> out;
  for (const auto& path : binds) {
    // The init receives each path in one sync frame; real ones are a few dozen bytes.
    bool below = path.starts_with("/proc/") || path.starts_with("/sys/");
    if (!below || cleanPath(path) != path || path.size() > 512)
      throw UserError(fmt::format("sysvisor-fs asked for a bind on \"{}\": only clean paths "
                                  "below /proc and /sys are emulated",
                                  path));
    for (const auto& b : out)
      if (b.destination == path)
        throw UserError(fmt::format("sysvisor-fs asked for two binds on \"{}\"", path));
    out.push_back({root + path, path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC});
  }
  return out;
}

LaunchPlan buildPlan(const oci::Spec& spec, const PlanOptions& options) {
  if (!spec.process)
    throw UserError("config.json has no \"process\": the container needs a process to run");
  LaunchPlan plan;
  plan.rootfs = resolveRootfs(spec, options);
  plan.readonlyRoot = spec.root.readonly;
  plan.noPivot = options.noPivot;
  plan.preserveFds = options.preserveFds;
  const oci::Linux* linux = spec.linux ? &*spec.linux : nullptr;
  if (linux) planNamespaces(*linux, plan);
  if (!(plan.cloneFlags & CLONE_NEWNS) && !linux) plan.cloneFlags |= CLONE_NEWNS;
  plan.sharedMountNs =
      !(plan.cloneFlags & CLONE_NEWNS) &&
      std::none_of(plan.joins.begin(), plan.joins.end(),
                   [](const NsJoin& j) { return j.type == oci::NsType::kMount; });
  if (!spec.hostname.empty()) plan.hostname = spec.hostname;
  if (!spec.domainname.empty()) plan.domainname = spec.domainname;
  if ((plan.hostname || plan.domainname) && !(linux && hasNs(*linux, oci::NsType::kUts)))
    throw UserError("unable to set hostname or domainname without a private UTS namespace");

  plan.rootPropagation = MS_SLAVE | MS_REC;
  if (linux && !linux->rootfsPropagation.empty()) {
    unsigned long p = propagationFlags(linux->rootfsPropagation);
    if (!p)
      throw UserError(fmt::format("unknown linux.rootfsPropagation \"{}\"",
                                  linux->rootfsPropagation));
    if (p & MS_PRIVATE) plan.rootPropagation = MS_PRIVATE | MS_REC;
    plan.rootPropagationAfter = p;
  }
  planMounts(spec, options, plan);
  plan.fsBindsAt = fsBindPosition(plan.mounts);
  planDevices(linux, plan);
  if (linux) {
    planSysctls(*linux, plan);
    for (const auto& p : linux->maskedPaths) plan.maskedPaths.push_back(cleanPath(p));
    for (const auto& p : linux->readonlyPaths) plan.readonlyPaths.push_back(cleanPath(p));
    if (linux->personalityDomain) plan.personality = *linux->personalityDomain;
  }
  planProcess(*spec.process, plan);
  return plan;
}

}  // namespace sv::ns
