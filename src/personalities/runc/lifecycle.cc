#include "personalities/runc/lifecycle.h"
#include "personalities/runc/syscont_setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/devices.h"
#include "nsutil/cgroup/freezer.h"
#include "nsutil/cgroup/resources.h"
#include "nsutil/idmap.h"
#include "nsutil/launch.h"
#include "nsutil/plan.h"
#include "nsutil/systemd_cgroup.h"
#include <sys/mman.h>
#include <sys/mount.h>

#include "oci/hooks.h"
#include "oci/spec.h"
#include "personalities/runc/console_relay.h"
#include "personalities/runc/container_id.h"
#include "personalities/runc/foreground.h"
#include "personalities/runc/lifecycle_internal.h"

namespace sv::runc {

namespace {

// systemd's halt request, SIGRTMIN+3 in the container's glibc (SIGRTMIN is 34 there; runc
// takes only the number too).
constexpr int kSystemdHalt = 37;

// Our stdout (the init's) goes somewhere that is read: not closed, not /dev/null.
bool stdoutIsRead() {
  struct stat out, null;
  if (::fstat(STDOUT_FILENO, &out) != 0) return false;
  if (!S_ISCHR(out.st_mode)) return true;
  return ::stat("/dev/null", &null) != 0 || out.st_rdev != null.st_rdev;
}

UserError notExist(const std::string& id) {
  // runc's words first: shims match on them.
  return UserError(fmt::format("container does not exist (id \"{}\")", id));
}


std::string absoluteBundle(const std::string& bundle) {
  std::string path = bundle.empty() ? "." : bundle;
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf))
    throw UserError(fmt::format("bundle directory \"{}\" does not exist: {} (give --bundle the "
                                "directory that holds config.json)",
                                path, std::strerror(errno)));
  return buf;
}

// The id of the topmost mount at path in our mount namespace (0: none), from mountinfo.
int topMountId(const std::string& path) {
  int id = 0;
  std::string text = readFile("/proc/self/mountinfo");
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    // "<id> <parent> <maj:min> <root> <mountpoint> ...", spaces in paths escaped as \040.
    size_t f[5];
    size_t at = 0;
    bool ok = true;
    for (int i = 0; i < 5 && ok; ++i) {
      f[i] = at;
      at = line.find(' ', at);
      ok = at != std::string_view::npos;
      if (ok) ++at;
    }
    if (!ok) continue;
    std::string_view mountpoint = line.substr(f[4], at - 1 - f[4]);
    if (mountpoint == path) id = std::atoi(std::string(line.substr(0, f[1] - 1)).c_str());
  }
  return id;
}

// A container in our mount namespace: detaches the bind of its rootfs, and with it every
// mount the container made, if it is still the one on top.
void detachSharedRootfs(int mountId, const std::string& path) {
  if (mountId == 0 || topMountId(path) != mountId) return;
  if (::umount2(path.c_str(), MNT_DETACH) != 0)
    log::warn("unmounting the container's rootfs bind '{}': {}", path, std::strerror(errno));
}

// Hooks that run after the runtime's work (poststart, poststop): a failure is a warning.
void runWarnHooks(const std::vector<oci::Hook>& hooks, const ContainerState& s,
                  const char* status, pid_t pid, const char* phase) {
  if (hooks.empty()) return;
  for (const auto& failure : oci::runHooksCollectingFailures(hooks, specState(s, status, pid),
                                                             phase, s.bundle.c_str()))
    log::warn("container \"{}\": {}", s.id, failure);
}

// The memfd the init reads its hook states from: createContainer's, NUL, startContainer's.
UniqueFd hookStatesFd(const std::string& create, const std::string& start) {
  UniqueFd fd(SV_SYSCALL(::memfd_create("sysvisor-hook-states", MFD_CLOEXEC), "memfd"));
  writeAll(fd.get(), create + '\0' + start, "hook states");
  return fd;
}

// Undoes a create that did not finish (after the init, if any, was killed and reaped):
// the cgroups it made and the state directory; once hooks have started to run, poststop
// runs too (runtime-spec: a failed create continues at delete).
// A failed create gives back the range mgr allocated for it (or marks a kept one stopped).
struct RangeGuard {
  RangeGuard(const std::string& socket, const std::string& id, bool registered, bool fresh)
      : socket(socket), id(id), armed(registered), fresh(fresh) {}
  ~RangeGuard() {
    if (armed) releaseRange(socket, id, fresh);
  }
  const std::string& socket;
  const std::string& id;
  bool armed, fresh;
};

struct CreateCleanup {
  CreateCleanup(const StateStore& st, std::string i) : store(st), id(std::move(i)) {}
  const StateStore& store;
  // --systemd-cgroup: the unit this create started (stopped first on failure).
  std::optional<cg::systemd::Client> systemd;
  std::string unit;
  std::string id;
  std::vector<std::string> createdCgroups;
  bool armed = true;
  // A shared mount namespace: the rootfs bind a failed create may have left on top.
  std::string sharedRootfs;
  int mountIdBefore = 0;
  const oci::Hooks* hooks = nullptr;
  const ContainerState* state = nullptr;
  const ContainerState* shifted = nullptr;  // a system container's upper dir to shift back
  const ContainerState* idView = nullptr;   // the engine's id view to take down
  ~CreateCleanup() {
    if (!armed) return;
    if (idView) removeEngineView(*idView);
    if (shifted) {
      try {
        shiftUpperBack(*shifted);
      } catch (const std::exception& e) {
        log::warn("container \"{}\": {}", id, e.what());
      }
    }
    if (!unit.empty()) {
      try {
        systemd->stopUnit(unit);
      } catch (...) {
      }
    }
    if (!sharedRootfs.empty()) {
      try {
        int top = topMountId(sharedRootfs);
        if (top != mountIdBefore) detachSharedRootfs(top, sharedRootfs);
      } catch (...) {
      }
    }
    if (hooks && state) {
      try {
        runWarnHooks(hooks->poststop, *state, "stopped", 0, "poststop");
      } catch (...) {
      }
    }
    try {
      for (auto it = createdCgroups.rbegin(); it != createdCgroups.rend(); ++it)
        cg::destroy({*it});
    } catch (...) {
    }
    try {
      store.remove(id);
    } catch (...) {
    }
  }
};

// Fault injection for test/faults: SYSVISOR_FAULT=<step>[:stop] makes `create` (and `run`)
// raise SIGKILL on itself at that step boundary, as `kill -9` would; ":stop" raises SIGSTOP
// instead, so a test can kill or restart a daemon while the runtime is paused there and then
// SIGCONT it. The variable is read once per process; unset, a fault point is one compare.
// A name that is no step fails the create (a typo in a test must not pass silently).
enum class FaultStep {
  kAfterMgr,         // mgr handed out the range; nothing under --root yet
  kAfterState,       // first state.json (no pid) written, lock held
  kAfterCgroup,      // rootfs prepared (upper dir shifted, engine view mounted); cgroups
                     // made, delegated, limited; exec FIFO made
  kAfterIdmap,       // idmapped bind trees and device nodes made
  kAfterClone,       // the init exists in its cgroups; maps not written yet
  kAfterFsRegister,  // sysvisor-fs knows the container; its files not yet mounted
  kAfterMounts,      // the init mounted everything, pivoted, waits on the FIFO; no pid saved
  kAfterStateSave,   // state.json with the init's pid written; no pid file yet
};
constexpr std::string_view kFaultStepNames[] = {
    "after-mgr",   "after-state",       "after-cgroup", "after-idmap",
    "after-clone", "after-fs-register", "after-mounts", "after-state-save"};

struct FaultPlan {
  int step = -1;  // index into kFaultStepNames; -1: none
  int signal = SIGKILL;
};

const FaultPlan& faultPlan() {
  static const FaultPlan plan = [] {
    FaultPlan p;
    const char* env = std::getenv("SYSVISOR_FAULT");
    if (!env || !*env) return p;
    std::string_view v(env);
    if (v.ends_with(":stop")) {
      p.signal = SIGSTOP;
      v.remove_suffix(5);
    }
    for (size_t i = 0; i < std::size(kFaultStepNames); ++i)
      if (kFaultStepNames[i] == v) p.step = static_cast<int>(i);
    if (p.step < 0)
      throw UserError(fmt::format("SYSVISOR_FAULT=\"{}\" names no step of create (steps: {}; "
                                  "\":stop\" suffix to stop instead of kill)",
                                  env, fmt::join(kFaultStepNames, ", ")));
    return p;
  }();
  return plan;
}

void faultPoint(FaultStep step) {
  const FaultPlan& p = faultPlan();
  if (p.step == static_cast<int>(step)) ::raise(p.signal);
}

int64_t unixNanos() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint64_t pidNsInode(pid_t pid) {
  struct stat st;
  std::string p = fmt::format("/proc/{}/ns/pid", pid);
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

struct Created {
  ContainerState state;
  ChildGuard init;
  UniqueFd ptyMaster;  // a foreground terminal's master, for the relay
};

// Steps of create, shared by `create` and `run`. execFifo: split create/start through a
// FIFO (create) or exec at once (run).
Created createSteps(const GlobalOptions& g, const CreateOptions& o, bool execFifo) {
  validateContainerId(o.id);
  checkPreservedFds(o.preserveFds);
  (void)faultPlan();  // a bad SYSVISOR_FAULT fails before anything exists
  StateStore store(g.root);
  std::string bundle = absoluteBundle(o.bundle);
  oci::Spec spec = loadSpec(bundle);
  std::string rootfs =
      spec.root.path[0] == '/' ? spec.root.path : ns::cleanPath(bundle + "/" + spec.root.path);
  // Parsed before anything exists (a bad hook fails the create first) and declared before
  // cleanup, which may run the poststop hooks.
  oci::Hooks hooks = oci::readHooks(std::move(spec.hooks));
  // A duplicate id fails here, before mgr is asked for (and would hand out) its range.
  ContainerState s;  // outlives cleanup, which may run poststop with it
  UniqueFd lock = store.createAndLock(o.id);
  CreateCleanup cleanup(store, o.id);
  // A first state before sysvisor-mgr hands out a range: a create killed from here on leaves
  // a state naming mgr, so `delete --force` tells mgr the container is not running.
  s.id = o.id;
  s.bundle = bundle;
  s.rootfs = rootfs;
  if (!g.ociOnly) {
    s.systemContainer = true;
    if (!g.noMgr && !specHasIdMappings(spec)) s.mgrSocket = g.mgrSocket;
  }
  store.save(s);
  // sysvisor-fs before mgr: a down daemon fails the create before a range is handed out.
  std::optional<FsSession> fs = connectFs(g, o.id);
  std::optional<SysContSetup> syscont;
  if (!g.ociOnly) syscont = makeSystemContainer(g, o.id, rootfs, spec);
  RangeGuard rangeGuard(g.mgrSocket, o.id, syscont && syscont->fromMgr, syscont && syscont->fresh);
  faultPoint(FaultStep::kAfterMgr);

  ns::PlanOptions po;
  po.bundle = bundle;
  po.noPivot = o.noPivot;
  po.preserveFds = o.preserveFds;
  ns::parseCgroupLayout(readFile("/proc/self/mountinfo"), po);
  ns::LaunchPlan plan = ns::buildPlan(spec, po);
  plan.fsBinds = fs.has_value();
  // systemd as PID 1 without a terminal: its console is relayed to our stdout (the init's),
  // unless nobody would read it there.
  plan.consolePty = syscont && syscont->systemdInit && !plan.terminal && stdoutIsRead();
  dropUnsupportedLsmLabels(plan);
  const bool detached = execFifo;
  checkTerminalOptions(plan.terminal, detached, o.consoleSocket);
  if (plan.terminal && !detached && !spec.process->consoleSize) {
    WinSize ws = callerWindowSize();
    plan.consoleRows = ws.rows;
    plan.consoleCols = ws.cols;
  }
  UniqueFd consoleSocket;
  if (!o.consoleSocket.empty()) consoleSocket = connectConsoleSocket(o.consoleSocket);
  // --systemd-cgroup: a transient unit through systemd's D-Bus API ("slice:prefix:name"),
  // whose cgroup path every hierarchy then uses.
  std::optional<cg::systemd::Unit> unit;
  std::string cgroupsPath = spec.linux ? spec.linux->cgroupsPath : "";
  if (g.systemdCgroup) {
    cg::systemd::requireBooted();
    unit = cg::systemd::parseCgroupsPath(cgroupsPath, o.id);
    cgroupsPath = unit->cgroupPath;
  }
  std::vector<cg::CgroupDir> cgroups = cg::resolvePaths(
      po.cgroupHierarchies, cgroupsPath, o.id, readFile("/proc/self/cgroup"));
  std::vector<std::string> cgroupPaths = cg::pathsOf(cgroups);
  cg::refuseSharedRoots(cgroups);
  // linux.resources, linux.seccomp and hooks as parsed with config.json, not parsed again.
  const nlohmann::json absent;  // without "linux"
  cg::Resources resources = cg::readResources(spec.linux ? spec.linux->resources : absent);
  for (const auto& w : resources.warnings) log::warn("{}", w);
  std::vector<cg::DeviceRule> deviceRules = cg::deviceRules(resources.devices);

  plan.seccomp = compileSeccomp(store, spec.linux ? spec.linux->seccomp : absent);
  plan.hooksSync = !hooks.prestart.empty() || !hooks.createRuntime.empty() ||
                   !hooks.createContainer.empty() || !hooks.startContainer.empty();
  plan.createContainerHooks = hooks.createContainer;
  plan.startContainerHooks = hooks.startContainer;

  // The state without a pid: if this process dies from here on, `delete` still finds the
  // cgroups and, through them, an orphaned init.
  if (syscont) {
    s.uidBase = syscont->range.uidBase;
    s.gidBase = syscont->range.gidBase;
    s.idSize = syscont->range.size;
    if (!syscont->fromMgr) s.mgrSocket.clear();
    if (fs) s.fsSocket = g.fsSocket;
    s.systemdInit = syscont->systemdInit;
  }
  s.created = nowRfc3339();
  const int64_t createdNs = unixNanos();
  s.ociVersion = spec.ociVersion;
  s.annotations = spec.annotations;
  s.privatePidNs = (plan.cloneFlags & CLONE_NEWPID) != 0;
  s.cgroupPaths = cgroupPaths;
  s.hooksJson = spec.hooksJson;
  if (spec.linux) s.seccompJson = spec.linux->seccompJson;
  if (const cg::CgroupDir* fr = cg::v1Dir(cgroups, "freezer")) {
    s.freezerDir = fr->path;
  } else {
    for (const auto& d : cgroups)
      if (d.v2 && d.mountpoint == "/sys/fs/cgroup") s.freezerDir = d.path, s.freezerV2 = true;
  }
  store.save(s);
  faultPoint(FaultStep::kAfterState);
  // One user namespace with the container's maps idmaps the rootfs and every bind (each one
  // made is a helper process cloned and reaped).
  UniqueFd userns;
  if (syscont) userns = ns::makeUserNs(plan.uidMap, plan.gidMap);
  UniqueFd rootfsTree;
  if (syscont) {
    // Recorded before the shift starts (see prepareSystemRootfs).
    auto willShift = [&](const std::string& dir) {
      s.shiftedUpper = dir;
      cleanup.shifted = &s;
      store.save(s);
    };
    SysContRootfs r = prepareSystemRootfs(plan.rootfs, userns.get(), syscont->range, willShift);
    // The engine's view goes on the path before anything else runs (the hooks see it too),
    // and its server is forked here, before the runtime joins a systemd scope: never counted,
    // frozen or killed with the container.
    if (r.engineOverlay) {
      cleanup.idView = &s;
      startEngineView(r, s, [&] { store.save(s); });
    }
    rootfsTree = std::move(r.rootfsTree);
  }
  // systemd moves the runtime itself into the new scope (it must never be empty); the init
  // is born there, and the runtime goes home right after the launch. Declared after
  // cleanup: it is destroyed first, so a failed create never stops a unit we are inside.
  std::optional<cg::systemd::ReturnHome> home;
  if (unit) {
    cleanup.systemd.emplace(cg::systemd::Client::connect());
    bool unifiedOnly = std::all_of(cgroups.begin(), cgroups.end(),
                                   [](const cg::CgroupDir& d) { return d.v2; });
    home.emplace(cgroups);
    cleanup.systemd->startUnit(unit->name,
                               cg::systemd::unitProperties(*unit, ::getpid(), unifiedOnly));
    cleanup.unit = unit->name;  // only now: an existing unit of that name is not ours to stop
    s.systemdUnit = unit->name;
  }
  cleanup.createdCgroups = cg::create(cgroupPaths);
  if (syscont) delegateCgroups(cgroupPaths, syscont->range);
  // Device access is restricted before the init exists (v1 files, or a cgroup v2 eBPF program).
  cg::applyDevices(deviceRules, cgroups);
  for (const auto& w : cg::applyResources(resources, cgroups)) log::warn("{}", w);
  UniqueFd fifo;
  if (execFifo) {
    std::string fifoPath = store.execFifoPath(o.id);
    mode_t old = ::umask(0);
    int r = ::mkfifo(fifoPath.c_str(), 0622);
    ::umask(old);
    if (r != 0) throwSysError(errno, "mkfifo", fmt::format("'{}'", fifoPath));
    fifo = UniqueFd(SV_SYSCALL(::open(fifoPath.c_str(), O_PATH | O_CLOEXEC), "'{}'", fifoPath));
  }
  faultPoint(FaultStep::kAfterCgroup);

  if (plan.sharedMountNs) {
    cleanup.sharedRootfs = plan.rootfs;
    cleanup.mountIdBefore = topMountId(plan.rootfs);
  }
  std::vector<UniqueFd> trees = ns::prepareIdmappedMounts(plan, userns ? userns.get() : -1);
  ns::MountTrees treeFds;
  for (const auto& t : trees) treeFds.mounts.push_back(t.get());
  treeFds.rootfs = rootfsTree.get();
  std::vector<UniqueFd> deviceNodes;
  if (syscont) {
    deviceNodes = ns::prepareDeviceNodes(plan, syscont->range.uidBase, syscont->range.gidBase);
    for (const auto& n : deviceNodes) treeFds.devices.push_back(n.get());
  }
  faultPoint(FaultStep::kAfterIdmap);
  std::optional<ns::Launched> launched;
  {
    std::optional<cg::BirthPlace> birthPlace(std::in_place, cgroups);
    ns::LaunchCallbacks callbacks;
    // Hooks must not be born in the container's cgroups.
    callbacks.afterClone = [&] {
      birthPlace.reset();
      faultPoint(FaultStep::kAfterClone);
    };
    if (plan.hooksSync)
      callbacks.onHooks = [&](pid_t pid) {
        cleanup.hooks = &hooks;
        cleanup.state = &s;
        // "created": these hooks run after the runtime-spec's create step (2), as crun has
        // it (runc says "creating").
        std::string created = specState(s, "created", pid);
        oci::runHooks(hooks.prestart, created, "prestart", bundle.c_str());
        oci::runHooks(hooks.createRuntime, created, "createRuntime", bundle.c_str());
        return hookStatesFd(created, created);
      };
    if (plan.seccomp.notify)
      callbacks.onSeccompListener = [&](pid_t pid, UniqueFd fd) {
        sendSeccompListener(plan.seccomp, s, "creating", pid, std::move(fd));
      };
    // Between the clone and the init's first mount: the init exists and sits in its cgroups.
    if (fs)
      callbacks.onFsBinds = [&](pid_t pid) {
        auto binds = fs->registerInit({pid, syscont->range, plan.hostname.value_or(""), createdNs});
        faultPoint(FaultStep::kAfterFsRegister);
        return binds;
      };
    launched.emplace(ns::launchInit(plan, execFifo ? fifo.get() : -1, birthPlace->v2Fd(),
                                    treeFds, callbacks));
  }
  faultPoint(FaultStep::kAfterMounts);
  for (const auto& path : launched->skippedFsBinds)
    log::debug("container {}: no {} in the container: sysvisor-fs's file not mounted", o.id, path);
  trees.clear();
  userns.reset();
  rootfsTree.reset();
  deviceNodes.clear();
  home.reset();
  if (consoleSocket) {
    sendPtyMaster(consoleSocket.get(), launched->ptyMaster.get());
    launched->ptyMaster.reset();
  }
  if (plan.consolePty) {
    if (!launched->ptyMaster) throw UserError("the container init set up no console");
    ConsoleRelay relay =
        startConsoleRelay(launched->ptyMaster.get(), STDOUT_FILENO, launched->init.pidfd());
    launched->ptyMaster.reset();
    s.consoleRelayPid = relay.pid;
    s.consoleRelayStart = relay.startTime;
  }
  // The final state is completed in `s`, which outlives cleanup (its poststop hooks and
  // shift-back read it), and moved out only once nothing can fail.
  s.pid = launched->init.pid();
  auto ps = readProcStat(s.pid);
  if (!ps) throw UserError("the container init exited right after setup");
  s.pidStartTime = ps->startTime;
  s.pidNsInode = pidNsInode(s.pid);
  s.fsRegistered = fs && fs->registered();
  if (plan.sharedMountNs) {
    s.sharedRootfsMountId = topMountId(plan.rootfs);
    s.sharedRootfsPath = plan.rootfs;
  }
  store.save(s);
  faultPoint(FaultStep::kAfterStateSave);
  if (!o.pidFile.empty()) writePidFile(o.pidFile, s.pid);
  cleanup.armed = false;
  rangeGuard.armed = false;
  if (fs) fs->keep();
  return Created{std::move(s), std::move(launched->init), std::move(launched->ptyMaster)};
}

// Opens the FIFO for reading, which lets the init exec; waits until it has written its byte
// or died.
void releaseInit(const StateStore& store, const ContainerState& s, int pidfd) {
  std::string path = store.execFifoPath(s.id);
  UniqueFd fifo(SV_SYSCALL(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "'{}'", path));
  struct pollfd fds[2] = {{fifo.get(), POLLIN, 0}, {pidfd, POLLIN, 0}};
  for (;;) {
    SV_SYSCALL(::poll(fds, 2, -1), "exec fifo");
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      // "0", or "1" and why the init could not go on (a startContainer hook failed).
      char buf[4096];
      ssize_t n = ::read(fifo.get(), buf, sizeof buf);
      if (n >= 1 && buf[0] == '0') break;
      if (n >= 1) {
        ::unlink(path.c_str());
        throw UserError(fmt::format("container \"{}\" could not start: {}", s.id,
                                    std::string_view(buf + 1, static_cast<size_t>(n - 1))));
      }
    }
    if (fds[1].revents & POLLIN)
      throw UserError(fmt::format("container \"{}\" init exited before it could start", s.id));
  }
  ::unlink(path.c_str());
}

// Signals every process of the container (but the init): those in its cgroup, and those in
// its pid namespace.
// The cgroup lists them in O(container size); the /proc walk (O(host processes)) is only the
// fallback for a container without cgroup directories.
void signalAll(const ContainerState& s, int sig) {
  if (!s.cgroupPaths.empty()) {
    for (pid_t pid : cg::procs(s.cgroupPaths)) {
      if (pid == s.pid) continue;
      if (UniqueFd pfd = pidfdOpen(pid)) pidfdSignal(pfd.get(), sig);
    }
    return;
  }
  if (!s.privatePidNs || s.pidNsInode == 0) return;
  DIR* d = ::opendir("/proc");
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == s.pid) continue;
    UniqueFd pfd = pidfdOpen(static_cast<pid_t>(pid));
    if (!pfd) continue;
    if (pidNsInode(static_cast<pid_t>(pid)) == s.pidNsInode) pidfdSignal(pfd.get(), sig);
  }
  ::closedir(d);
}

void waitGone(int pidfd, const std::string& id) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, 10000);
  } while (r < 0 && errno == EINTR);
  if (r == 0) throw UserError(fmt::format("container \"{}\" did not exit within 10s of SIGKILL", id));
}

void killAndWait(const ContainerState& s) {
  UniqueFd fd = openInit(s);
  if (!fd) return;
  pidfdSignal(fd.get(), SIGKILL);
  // The init of a private pid namespace takes every other process with it.
  if (!s.privatePidNs) signalAll(s, SIGKILL);
  // A frozen process only dies once thawed.
  cg::Freezer freezer{s.freezerDir, s.freezerV2};
  if (cg::isFrozen(freezer)) cg::thaw(freezer);
  waitGone(fd.get(), s.id);
}

void destroy(const StateStore& store, const ContainerState& s) {
  // Without a private pid namespace (or when a create died before it knew the init's pid),
  // the container's processes are whatever is in its cgroup: they go first, or rmdir fails.
  // With one, the kernel already took them with the init, and a cgroup shared with another
  // container must not cost that container its processes (runc behaves the same).
  if (!s.privatePidNs || s.pid == 0) {
    std::vector<pid_t> left = cg::procs(s.cgroupPaths);
    for (int round = 0; !left.empty() && round < 1000; ++round) {
      for (pid_t pid : left)
        if (UniqueFd pfd = pidfdOpen(pid)) pidfdSignal(pfd.get(), SIGKILL);
      ::usleep(1000);
      left = cg::procs(s.cgroupPaths);
    }
  }
  if (!s.systemdUnit.empty()) {
    try {
      std::string r = cg::systemd::Client::connect().stopUnit(s.systemdUnit);
      if (!r.empty() && r != "done")
        log::warn("container \"{}\": stopping unit \"{}\" ended \"{}\"", s.id, s.systemdUnit, r);
    } catch (const std::exception& e) {
      log::warn("container \"{}\": {}", s.id, e.what());
    }
  }
  try {
    cg::destroy(s.cgroupPaths);
  } catch (const std::exception& e) {
    log::warn("container \"{}\": {}; the cgroup is left in place", s.id, e.what());
  }
  detachSharedRootfs(s.sharedRootfsMountId, s.sharedRootfsPath);
  stopConsoleRelay({s.consoleRelayPid, s.consoleRelayStart});
  removeEngineView(s);
  // Back to 0-based before the engine unmounts the rootfs and `docker commit`/`diff` read it.
  try {
    shiftUpperBack(s);
  } catch (const std::exception& e) {
    log::warn("container \"{}\": shifting its upper dir back: {}", s.id, e.what());
  }
  // The range stays with the id (docker stop + start keeps it); mgr frees it once the
  // rootfs is gone.
  if (!s.mgrSocket.empty()) releaseRange(s.mgrSocket, s.id, false);
  if (!s.fsSocket.empty()) unregisterFs(s.fsSocket, s.id);
  if (!s.hooksJson.empty()) {
    try {
      runWarnHooks(oci::parseHooks(s.hooksJson).poststop, s, "stopped", 0, "poststop");
    } catch (const std::exception& e) {
      log::warn("container \"{}\": poststop hooks: {}", s.id, e.what());
    }
  }
  store.remove(s.id);
}

// After the container's process started; failures are warnings (runtime-spec 1.2).
void poststart(const ContainerState& s) {
  if (s.hooksJson.empty()) return;
  runWarnHooks(oci::parseHooks(s.hooksJson).poststart, s, "running", s.pid, "poststart");
}

}  // namespace

ContainerState loadExisting(const StateStore& store, const std::string& id) {
  validateContainerId(id);
  auto s = store.load(id);
  if (!s) throw notExist(id);
  return *s;
}

std::vector<cg::CgroupDir> cgroupDirsOf(const ContainerState& s) {
  ns::PlanOptions po;
  ns::parseCgroupLayout(readFile("/proc/self/mountinfo"), po);
  std::string self = readFile("/proc/self/cgroup");
  std::vector<cg::CgroupDir> all = cg::resolvePaths(po.cgroupHierarchies, "/", "", self);
  std::vector<cg::CgroupDir> out;
  for (const auto& path : s.cgroupPaths)
    for (const auto& d : all)
      if (path == d.mountpoint || path.starts_with(d.mountpoint + "/")) {
        cg::CgroupDir mine = d;
        mine.path = path;
        out.push_back(mine);
        break;
      }
  return out;
}


void createContainer(const GlobalOptions& g, const CreateOptions& o) {
  Created c = createSteps(g, o, true);
  (void)c.init.release();
}

void startContainer(const GlobalOptions& g, const std::string& id) {
  validateContainerId(id);
  StateStore store(g.root);
  auto lock = store.lock(id);
  if (!lock) throw notExist(id);
  auto s = store.load(id);
  if (!s) throw notExist(id);
  switch (store.status(*s)) {
    case Status::kCreated: break;
    case Status::kStopped: throw UserError("cannot start a container that has stopped");
    case Status::kCreating:
      throw UserError(fmt::format("container \"{}\" is still being created, or its create was "
                                  "killed: remove it with `delete --force {}`",
                                  id, id));
    default: throw UserError("cannot start an already running container");
  }
  UniqueFd pidfd = openInit(*s);
  if (!pidfd) throw UserError("cannot start a container that has stopped");
  releaseInit(store, *s, pidfd.get());
  poststart(*s);
}

int runContainer(const GlobalOptions& g, const CreateOptions& o, bool detach, bool keep) {
  // Block the signals we forward before the init exists, so none is lost; the init resets
  // its mask before it execs.
  sigset_t all = forwardableSignals();
  if (!detach) ::sigprocmask(SIG_BLOCK, &all, nullptr);
  Created c = createSteps(g, o, detach);
  StateStore store(g.root);
  if (detach) {
    releaseInit(store, c.state, c.init.pidfd());
    (void)c.init.release();
    poststart(c.state);
    return 0;
  }
  poststart(c.state);
  int code = waitForeground(c.init, all, std::move(c.ptyMaster));
  if (keep) return code;
  if (auto lock = store.lock(o.id)) destroy(store, c.state);
  return code;
}

void killContainer(const GlobalOptions& g, const std::string& id, int sig, bool all) {
  StateStore store(g.root);
  ContainerState s = loadExisting(store, id);
  UniqueFd fd = openInit(s);
  if (all) signalAll(s, sig);  // also after the init is gone: others may be left (runc too)
  if (!fd) {
    if (all) return;
    throw UserError("container not running");
  }
  // docker stop: SIGTERM makes systemd re-execute itself, not stop; SIGRTMIN+3 (37 with
  // glibc, whose SIGRTMIN is 34) is its halt, which stops every service in order.
  if (s.systemdInit && sig == SIGTERM && !all) {
    log::debug("container {}: SIGTERM to a systemd init sent as SIGRTMIN+3 (halt)", id);
    sig = kSystemdHalt;
  }
  if (!pidfdSignal(fd.get(), sig)) throwSysError(errno, "kill", fmt::format("container \"{}\"", id));
}

void deleteContainer(const GlobalOptions& g, const std::string& id, bool force) {
  validateContainerId(id);
  StateStore store(g.root);
  auto lock = store.lock(id);
  std::optional<ContainerState> s;
  try {
    if (lock) s = store.load(id);
  } catch (const UserError&) {
    if (!force) throw;  // a corrupt state.json: --force removes what is there
  }
  if (!s) {
    // An aborted create may have left a directory without state: remove it.
    store.remove(id);
    store.removeStaleCreating(id);
    if (force) return;
    throw notExist(id);
  }
  Status status = store.status(*s);
  if (status == Status::kRunning || status == Status::kPaused) {
    if (!force)
      throw UserError(fmt::format("cannot delete container {} that is not stopped: {}", id,
                                  statusName(status)));
  }
  if (status != Status::kStopped) killAndWait(*s);
  destroy(store, *s);
}

void updateContainer(const GlobalOptions& g, const std::string& id,
                     const cg::Resources& resources) {
  StateStore store(g.root);
  auto lock = store.lock(id);
  ContainerState s = loadExisting(store, id);
  if (store.status(s) == Status::kStopped) throw UserError("container not running");
  for (const auto& w : cg::applyResources(resources, cgroupDirsOf(s))) log::warn("{}", w);
}

void pauseContainer(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  auto lock = store.lock(id);
  ContainerState s = loadExisting(store, id);
  Status st = store.status(s);
  if (st != Status::kRunning && st != Status::kCreated) throw UserError("container not running");
  cg::freeze({s.freezerDir, s.freezerV2});
  // `docker commit` pauses the container and then reads its upper dir: 0-based, like an
  // ordinary container's, while it is frozen.
  try {
    shiftUpperBack(s);
  } catch (...) {
    cg::thaw({s.freezerDir, s.freezerV2});
    throw;
  }
}

void resumeContainer(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  auto lock = store.lock(id);
  ContainerState s = loadExisting(store, id);
  if (store.status(s) != Status::kPaused) throw UserError("container not paused");
  shiftUpperForward(s);
  cg::thaw({s.freezerDir, s.freezerV2});
}

std::vector<pid_t> containerPids(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  ContainerState s = loadExisting(store, id);
  if (store.status(s) == Status::kStopped) return {};
  std::vector<pid_t> pids = cg::procs(s.cgroupPaths);
  if (pids.empty() && initAlive(s)) pids.push_back(s.pid);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::string containerStateJson(const GlobalOptions& g, const std::string& id) {
  StateStore store(g.root);
  ContainerState s = loadExisting(store, id);
  return stateReport(s, store.status(s), true);
}

}  // namespace sv::runc
