#include "personalities/runc/syscont_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "ipc/fs_client.h"
#include "ipc/mgr_client.h"
#include "ipc/rpc.h"
#include "nsutil/idmap.h"
#include "nsutil/plan.h"
#include "nsutil/rootfs_path.h"

namespace sv::runc {

namespace {

// docker --net=host and friends arrive as a path to the host's namespace (Podman, CRI) or
// as a missing entry (Docker; the transform refuses those).
void refuseHostNamespaces(const oci::Spec& spec) {
  for (const oci::Namespace& ns : namespacesToCheckAgainstHost(spec)) {
    // The runtime runs in the host's namespaces (as Docker's shim starts it); /proc/1 may not
    // even be ours to look at (a sandboxed pid 1).
    std::string host = fmt::format("/proc/self/ns/{}", oci::nsProcName(ns.type));
    struct stat a, b;
    if (::stat(ns.path.c_str(), &a) != 0)
      throw UserError(fmt::format("namespace path \"{}\" ({}): {}", ns.path, oci::nsName(ns.type),
                                  std::strerror(errno)));
    if (::stat(host.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
      throw SysContError(fmt::format(
          "sysvisor-runc: a system container cannot share the host's {} namespace (\"{}\" is the "
          "host's own; --{}=host is not supported)",
          oci::nsName(ns.type), ns.path,
          ns.type == oci::NsType::kNetwork ? "net" : oci::nsProcName(ns.type)));
  }
}

// Volumes and Docker's own files (hosts, resolv.conf, hostname) show their real owners inside:
// a host root-owned file is root-owned in the container, and what root inside writes there is
// owned by the directory's owners on the host, whichever range the container has.
void idmapBinds(oci::Spec& spec, const IdRange& r) {
  for (oci::Mount& m : spec.mounts) {
    bool bind = m.type == "bind" || std::find_if(m.options.begin(), m.options.end(), [](auto& o) {
                                      return o == "bind" || o == "rbind";
                                    }) != m.options.end();
    if (!bind || !m.uidMappings.empty()) continue;
    // Device nodes (devtmpfs: /dev/null behind /dev/kmsg, --device) keep their own owners.
    if (m.source.starts_with("/dev/")) continue;
    m.uidMappings = {{0, r.uidBase, r.size}};
    m.gidMappings = {{0, r.gidBase, r.size}};
    m.idmapIfSupported = true;
  }
}

// Where the image's Docker keeps its data: "data-root" of its /etc/docker/daemon.json (read
// inside the rootfs, symlinks resolved there), else /var/lib/docker.
std::string engineDataRoot(const std::string& rootfs) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "/var/lib/docker";
  auto fd = ns::openInRoot(root.get(), "/etc/docker/daemon.json", O_RDONLY);
  if (!fd) return "/var/lib/docker";
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd->get(), buf, sizeof buf)) > 0 && text.size() < (1 << 20);)
    text.append(buf, static_cast<size_t>(n));
  try {
    auto j = nlohmann::json::parse(text);
    if (j.is_object() && j.contains("data-root") && j["data-root"].is_string()) {
      std::string dr = ns::cleanPath(j["data-root"].get<std::string>());
      if (dr.size() > 1 && dr[0] == '/') return dr;
    }
  } catch (const std::exception& e) {
    log::debug("the image's /etc/docker/daemon.json: {}", e.what());
  }
  return "/var/lib/docker";
}

// An inner engine cannot put its overlay layers on the container's own overlay root: mgr's
// store for it goes at its data root, unless the spec mounts something there, and only in an
// image that has the engine (or its data root): a mount point made in any other would show up
// in `docker diff` and in every `docker commit`.
void bindEngineStore(oci::Spec& spec, const std::string& rootfs, const std::string& store,
                     const std::string& dest, std::initializer_list<const char*> signs,
                     const std::string& id) {
  if (store.empty()) return;
  for (const oci::Mount& m : spec.mounts)
    if (ns::cleanPath(m.destination) == dest) return;
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return;
  bool engine = static_cast<bool>(ns::openInRoot(root.get(), dest, O_PATH));
  for (const char* p : signs)
    if (!engine && ns::openInRoot(root.get(), p, O_PATH)) engine = true;
  if (!engine) return;
  oci::Mount m;
  m.destination = dest;
  m.type = "bind";
  m.source = store;
  m.options = {"rbind", "rprivate", "nosuid", "nodev"};
  spec.mounts.push_back(std::move(m));
  log::debug("container {}: inner engine store {} at {}", id, store, dest);
}

// The path of an open file inside the rootfs it was opened under (rootReal: the rootfs's own
// path as the kernel prints it), or "" when it lies elsewhere.
std::string pathInRoot(int fd, const std::string& rootReal) {
  char link[64];
  std::string p = readLinkOrEmpty(ns::fdPath(link, fd));
  if (rootReal == "/") return p;
  if (!p.starts_with(rootReal) || (p.size() > rootReal.size() && p[rootReal.size()] != '/'))
    return "";
  return p.size() == rootReal.size() ? "/" : p.substr(rootReal.size());
}

}  // namespace

std::string systemdInitPath(const std::string& rootfs, const oci::Process& process) {
  if (process.args.empty() || process.args[0].empty()) return "";
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "";
  char link[64];
  const std::string rootReal = readLinkOrEmpty(ns::fdPath(link, root.get()));
  if (rootReal.empty()) return "";
  const std::string& arg0 = process.args[0];
  if (arg0.find('/') != std::string::npos && arg0[0] != '/') return "";  // not an init
  // The paths the init itself will try.
  const std::string cwd = process.cwd.empty() ? "/" : ns::cleanPath(process.cwd);
  for (const auto& c : ns::execCandidates(arg0, process.env, cwd)) {
    std::optional<UniqueFd> fd;
    try {
      fd = ns::openInRoot(root.get(), c, O_PATH);
    } catch (const SysError&) {
      continue;  // a loop, a name too long: not an init that could start either
    }
    if (!fd) continue;
    std::string inside = pathInRoot(fd->get(), rootReal);
    return isSystemdPath(inside) ? inside : "";
  }
  return "";
}

SysContSetup makeSystemContainer(const GlobalOptions& g, const std::string& id,
                                 const std::string& rootfs, oci::Spec& spec) {
  SysContSetup out;
  SysContInputs in;
  std::string store, containerdStore;
  if (!specHasIdMappings(spec)) {
    if (g.noMgr) {
      log::warn("container {}: --no-mgr: using the fixed id range {}-{} shared by every such "
                "container",
                id, kNoMgrRange.uidBase, kNoMgrRange.uidBase + kNoMgrRange.size - 1);
      in.range = kNoMgrRange;
    } else {
      // The connection is closed (and its event loop gone) before anything is cloned.
      ipc::MgrClient::Registered r = ipc::MgrClient(g.mgrSocket).registerContainer(id, rootfs);
      if (!r.warning.empty()) log::warn("{}", r.warning);
      in.range = IdRange{r.range.uidBase, r.range.gidBase, r.range.size};
      out.fromMgr = true;
      out.fresh = r.fresh;
      store = r.store;
      containerdStore = r.containerdStore;
    }
  }
  struct utsname u {};
  if (::uname(&u) == 0) {
    std::string modules = std::string("/lib/modules/") + u.release;
    struct stat st;
    if (::stat(modules.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) in.modulesDir = modules;
  }
  if (spec.process) {
    std::string init = systemdInitPath(rootfs, *spec.process);
    if (!init.empty()) {
      log::debug("container {}: the init {} is systemd ({})", id, spec.process->args[0], init);
      in.systemdInit = out.systemdInit = true;
    }
  }
  try {
    SysContResult res = toSystemContainer(spec, in);
    for (const auto& n : res.notes) log::debug("container {}: {}", id, n);
    refuseHostNamespaces(spec);
    out.range = res.range;
    idmapBinds(spec, res.range);
    // After idmapBinds: the stores are owned by the range already, plain binds.
    bindEngineStore(spec, rootfs, store, engineDataRoot(rootfs),
                    {"/etc/docker/daemon.json", "/usr/bin/dockerd", "/usr/sbin/dockerd",
                     "/usr/local/bin/dockerd"},
                    id);
    bindEngineStore(spec, rootfs, containerdStore, "/var/lib/containerd",
                    {"/etc/containerd/config.toml", "/usr/bin/containerd", "/usr/sbin/containerd",
                     "/usr/local/bin/containerd"},
                    id);
  } catch (...) {
    if (out.fromMgr) releaseRange(g.mgrSocket, id, out.fresh);
    throw;
  }
  return out;
}

void releaseRange(const std::string& mgrSocket, const std::string& id, bool gone) noexcept {
  try {
    ipc::MgrClient(mgrSocket).unregisterContainer(id, gone);
  } catch (const std::exception& e) {
    log::warn("container {}: telling sysvisor-mgr: {}", id, e.what());
  }
}

FsSession::FsSession(std::string socket, std::string id)
    : client_(std::make_unique<ipc::FsClient>(socket)),
      socket_(std::move(socket)),
      id_(std::move(id)) {}

FsSession::~FsSession() {
  if (registered_ && !kept_) unregisterFs(socket_, id_);
}

std::vector<ns::FsBindTree> FsSession::registerInit(const Init& init) {
  auto stat = readProcStat(init.pid);
  if (!stat) throw UserError("the container init exited before sysvisor-fs knew of it");
  ipc::ContainerData data;
  data.id = id_;
  data.initPid = init.pid;
  data.initStartTime = stat->startTime;
  data.range = {init.range.uidBase, init.range.gidBase, init.range.size};
  data.created = init.created;
  data.hostname = init.hostname;
  // cgroupPaths stay empty: the init already sits in its cgroups, and the daemon reads them
  // from /proc/<pid>/cgroup.
  ipc::FsClient::Registered r;
  try {
    try {
      r = client_->registerContainer(data);
    } catch (const ipc::ConnectionLost& e) {
      // sysvisor-fs was restarted since connectFs: its successor takes the registration
      // (registering is idempotent). A daemon that is gone for good fails the new connection.
      log::info("container {}: {}; connecting again", id_, e.what());
      client_ = std::make_unique<ipc::FsClient>(socket_);
      r = client_->registerContainer(data);
    }
  } catch (const ipc::RemoteError& e) {
    throw UserError(fmt::format("sysvisor-fs refused container \"{}\": {}", id_, e.what()));
  }
  registered_ = true;
  log::debug("container {}: sysvisor-fs serves {} with {} files", id_, r.root, r.binds.size());
  return ns::openFsBindTrees(ns::planFsBinds(r.root, r.binds));
}

std::optional<FsSession> connectFs(const GlobalOptions& g, const std::string& id) {
  if (g.ociOnly) return std::nullopt;
  if (g.noFs) {
    log::warn("container {}: --no-fs: started without sysvisor-fs, so its /proc and /sys show "
              "the host's uptime, meminfo, cpuinfo, ... instead of the container's own",
              id);
    return std::nullopt;
  }
  return std::optional<FsSession>(std::in_place, g.fsSocket, id);
}

void unregisterFs(const std::string& socket, const std::string& id) noexcept {
  try {
    if (!ipc::FsClient(socket).unregisterContainer(id))
      log::debug("container {}: sysvisor-fs did not know it", id);
  } catch (const std::exception& e) {
    log::warn("container {}: telling sysvisor-fs: {}", id, e.what());
  }
}

void delegateCgroups(const std::vector<std::string>& paths, const IdRange& range) {
  for (const auto& path : paths) {
    UniqueFd dir(SV_SYSCALL(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "'{}'", path));
    SV_SYSCALL(::fchownat(dir.get(), "", range.uidBase, range.gidBase, AT_EMPTY_PATH),
               "delegating cgroup '{}'", path);
    // cgroup2 (the kernel's delegation rules): the container may move processes and enable
    // controllers below; v1 directories carry no such files (ENOENT is fine there).
    for (const char* f : {"cgroup.procs", "cgroup.subtree_control", "cgroup.threads"})
      if (::fchownat(dir.get(), f, range.uidBase, range.gidBase, 0) != 0 && errno != ENOENT)
        throwSysError(errno, "fchownat", fmt::format("'{}/{}'", path, f));
  }
}

}  // namespace sv::runc
