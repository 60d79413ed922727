// `exec`: a process in a running container's namespaces and cgroups.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/launch.h"
#include "nsutil/plan.h"
#include "personalities/runc/foreground.h"
#include "personalities/runc/lifecycle.h"
#include "personalities/runc/lifecycle_internal.h"
#include "personalities/runc/syscont.h"

namespace sv::runc {

namespace {

// The process `exec` runs: --process, or the container's own process with the flags applied
// (runc's rules: --env adds or replaces, --cap adds to every set but inheritable).
oci::Process execProcessSpec(const ContainerState& s, const ExecOptions& o) {
  if (!o.processFile.empty()) {
    std::string text = readFile(o.processFile);
    try {
      // Parsed through the spec parser so every field is validated the same way.
      auto spec = oci::parseSpec(R"({"ociVersion":"1.0.2","root":{"path":"/"},"process":)" +
                                 text + "}");
      return *spec.process;
    } catch (const oci::SpecError& e) {
      throw UserError(fmt::format("--process {}: {}", o.processFile, e.what()));
    }
  }
  oci::Spec spec = loadSpec(s.bundle);
  if (!spec.process) throw UserError("the container's config.json has no process to start from");
  oci::Process p = *spec.process;
  if (o.args.empty()) throw UserError("exec needs a command: exec <container-id> <command> [args]");
  p.args = o.args;
  p.terminal = o.tty;
  for (const auto& e : o.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError(fmt::format("--env \"{}\" must be NAME=value", e));
    std::string prefix = e.substr(0, eq + 1);
    std::erase_if(p.env, [&](const std::string& x) { return x.starts_with(prefix); });
    p.env.push_back(e);
  }
  if (!o.cwd.empty()) p.cwd = o.cwd;
  if (!o.user.empty()) {
    auto colon = o.user.find(':');
    try {
      size_t used = 0;
      p.user.uid = static_cast<uint32_t>(std::stoul(o.user.substr(0, colon), &used));
      if (used != o.user.substr(0, colon).size()) throw std::invalid_argument("uid");
      if (colon != std::string::npos) p.user.gid = static_cast<uint32_t>(std::stoul(o.user.substr(colon + 1)));
    } catch (const std::exception&) {
      throw UserError(fmt::format("--user \"{}\": give numeric uid[:gid]", o.user));
    }
  }
  for (const auto& g : o.additionalGids) {
    try {
      p.user.additionalGids.push_back(static_cast<uint32_t>(std::stoul(g)));
    } catch (const std::exception&) {
      throw UserError(fmt::format("--additional-gids \"{}\" is not a number", g));
    }
  }
  if (o.noNewPrivs) p.noNewPrivileges = true;
  if (!o.caps.empty()) {
    if (!p.capabilities) p.capabilities = oci::Capabilities{};
    for (const auto& c : o.caps) {
      auto cap = oci::capFromName(c);
      if (!cap) throw UserError(fmt::format("--cap: unknown capability \"{}\"", c));
      for (auto* set : {&p.capabilities->bounding, &p.capabilities->effective,
                        &p.capabilities->permitted, &p.capabilities->ambient})
        set->push_back(*cap);
    }
  }
  return p;
}

// exec --cgroup: "[<controller>[,<controller>]:]<path>", a sub-cgroup of the container's
// (that exists) for the named controllers' hierarchies, or for all of them.
void enterSubCgroups(std::vector<cg::CgroupDir>& dirs, const std::vector<std::string>& specs) {
  for (const auto& spec : specs) {
    auto colon = spec.find(':');
    std::string path = colon == std::string::npos ? spec : spec.substr(colon + 1);
    std::string controllers = colon == std::string::npos ? "" : spec.substr(0, colon);
    std::string clean = ns::cleanPath("/" + path);
    if (path.empty() || clean == "/" || path.find("..") != std::string::npos)
      throw UserError(fmt::format("--cgroup \"{}\": give a sub-cgroup path below the "
                                  "container's cgroup, without \"..\"",
                                  spec));
    bool matched = false;
    for (auto& d : dirs) {
      bool wanted = controllers.empty();
      std::string_view list = controllers;
      while (!wanted && !list.empty()) {
        auto comma = list.find(',');
        std::string_view c = list.substr(0, comma);
        std::string_view have = d.controllers;
        // "cpu" matches the "cpu,cpuacct" hierarchy; "unified"/"" names cgroup2.
        while (!have.empty() && !wanted) {
          auto hc = have.find(',');
          wanted = have.substr(0, hc) == c;
          have = hc == std::string_view::npos ? "" : have.substr(hc + 1);
        }
        if (d.v2 && (c == "unified" || c.empty())) wanted = true;
        list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
      }
      if (!wanted) continue;
      matched = true;
      std::string sub = d.path + clean;
      struct stat st;
      if (::stat(sub.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw UserError(fmt::format("--cgroup \"{}\": sub-cgroup \"{}\" does not exist (create "
                                    "it first)",
                                    spec, sub));
      d.path = sub;
    }
    if (!matched)
      throw UserError(fmt::format("--cgroup \"{}\": the container has no cgroup for \"{}\"",
                                  spec, controllers));
  }
}

// The init's namespaces that differ from ours: what an exec'd process must join.
std::vector<ns::NsJoin> namespacesOf(pid_t pid) {
  constexpr oci::NsType kTypes[] = {oci::NsType::kUser, oci::NsType::kMount, oci::NsType::kPid,
                                    oci::NsType::kNetwork, oci::NsType::kIpc, oci::NsType::kUts,
                                    oci::NsType::kCgroup, oci::NsType::kTime};
  std::vector<ns::NsJoin> joins;
  for (auto t : kTypes) {
    std::string theirs = fmt::format("/proc/{}/ns/{}", pid, oci::nsProcName(t));
    std::string ours = fmt::format("/proc/self/ns/{}", oci::nsProcName(t));
    struct stat a, b;
    if (::stat(theirs.c_str(), &a) != 0) continue;
    if (::stat(ours.c_str(), &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    joins.push_back({t, theirs});
  }
  return joins;
}

}  // namespace

int execProcess(const GlobalOptions& g, const ExecOptions& o) {
  checkPreservedFds(o.preserveFds);
  StateStore store(g.root);
  ContainerState s = loadExisting(store, o.id);
  Status status = store.status(s);
  if (status == Status::kStopped || status == Status::kCreating)
    throw UserError("cannot exec in a stopped container");
  if (status == Status::kPaused && !o.ignorePaused)
    throw UserError("cannot exec in a paused container (pass --ignore-paused to exec anyway)");
  UniqueFd initFd = openInit(s);
  if (!initFd) throw UserError("cannot exec in a stopped container");

  oci::Process process = execProcessSpec(s, o);
  if (s.systemContainer) grantRootCapabilities(process);
  if (!o.processLabel.empty()) process.selinuxLabel = o.processLabel;
  if (!o.apparmor.empty()) process.apparmorProfile = o.apparmor;
  checkTerminalOptions(process.terminal, o.detach, o.consoleSocket);
  if (process.terminal && !o.detach && !process.consoleSize) {
    WinSize ws = callerWindowSize();
    process.consoleSize = oci::ConsoleSize{ws.rows, ws.cols};
  }
  ns::LaunchPlan plan =
      ns::buildExecPlan(process, s.rootfs, namespacesOf(s.pid), o.preserveFds);
  dropUnsupportedLsmLabels(plan);
  // state.json keeps linux.seccomp as text (the container's config.json may have changed).
  plan.seccomp = compileSeccomp(
      store, s.seccompJson.empty() ? nlohmann::json() : nlohmann::json::parse(s.seccompJson));
  std::vector<cg::CgroupDir> cgroups = cgroupDirsOf(s);
  enterSubCgroups(cgroups, o.subCgroups);
  UniqueFd consoleSocket;
  if (!o.consoleSocket.empty()) consoleSocket = connectConsoleSocket(o.consoleSocket);
  sigset_t all = forwardableSignals();
  if (!o.detach) ::sigprocmask(SIG_BLOCK, &all, nullptr);
  // A paused container (--ignore-paused): being born in its frozen cgroup would freeze the
  // process before it is set up (and the runtime with it): it joins that one once ready.
  std::vector<std::string> frozenLater;
  if (status == Status::kPaused) {
    std::erase_if(cgroups, [&](const cg::CgroupDir& d) {
      bool frozen = d.path == s.freezerDir;
      if (frozen) frozenLater.push_back(d.path);
      return frozen;
    });
  }
  std::optional<ns::Launched> launched;
  {
    cg::BirthPlace birthPlace(cgroups);
    ns::LaunchCallbacks callbacks;
    if (plan.seccomp.notify)
      callbacks.onSeccompListener = [&](pid_t pid, UniqueFd fd) {
        sendSeccompListener(plan.seccomp, s, "running", pid, std::move(fd));
      };
    launched.emplace(ns::launchInit(plan, -1, birthPlace.v2Fd(), {}, callbacks));
  }
  if (!frozenLater.empty()) cg::attach(frozenLater, launched->init.pid());
  if (consoleSocket) sendPtyMaster(consoleSocket.get(), launched->ptyMaster.get());
  if (!o.pidFile.empty()) writePidFile(o.pidFile, launched->init.pid());
  if (o.detach) {
    (void)launched->init.release();
    return 0;
  }
  return waitForeground(launched->init, all, std::move(launched->ptyMaster));
}

}  // namespace sv::runc
