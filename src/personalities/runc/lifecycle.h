// The container lifecycle as named steps; the CLI files are thin wrappers around these.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/resources.h"
#include "personalities/runc/state_store.h"

namespace sv::runc {

struct GlobalOptions {
  std::string root = "/run/sysvisor-runc";
  std::string log;
  std::string logFormat = "text";
  bool debug = false;
  bool systemdCgroup = false;
  // System containers (the default): where sysvisor-mgr listens, or no mgr at all (a fixed
  // id range shared by all; tests and debugging).
  std::string mgrSocket = "/run/sysvisor/mgr.sock";
  bool noMgr = false;
  // Where sysvisor-fs listens (it emulates /proc and /sys files), or no emulation at all.
  std::string fsSocket = "/run/sysvisor/fs.sock";
  bool noFs = false;
  // Run bundles as plain OCI containers, exactly as config.json says (conformance tests).
  bool ociOnly = false;
};

struct CreateOptions {
  std::string id;
  std::string bundle;  // "" = current directory
  std::string pidFile;
  std::string consoleSocket;
  bool noPivot = false;
  int preserveFds = 0;
};

void createContainer(const GlobalOptions& g, const CreateOptions& o);
void startContainer(const GlobalOptions& g, const std::string& id);
// Foreground run returns the container's exit code (128+n for a signal) and deletes the
// container unless keep; detached returns 0.
int runContainer(const GlobalOptions& g, const CreateOptions& o, bool detach, bool keep);
void killContainer(const GlobalOptions& g, const std::string& id, int sig, bool all);
void deleteContainer(const GlobalOptions& g, const std::string& id, bool force);
std::string containerStateJson(const GlobalOptions& g, const std::string& id);
struct ExecOptions {
  std::string id;
  std::string processFile;  // --process: an OCI process JSON; else the fields below
  std::vector<std::string> args, env, caps, additionalGids;
  std::string cwd, user;  // user: "uid[:gid]"
  bool noNewPrivs = false, detach = false, tty = false;
  std::string pidFile, consoleSocket;
  int preserveFds = 0;
  std::vector<std::string> subCgroups;  // --cgroup: [<controller>[,<controller>]:]<path>
  bool ignorePaused = false;
  std::string processLabel, apparmor;
};
// Runs a process in a running container; the foreground form returns its exit code.
int execProcess(const GlobalOptions& g, const ExecOptions& o);

// The state of an existing container; throws UserError for a bad or unknown id.
ContainerState loadExisting(const StateStore& store, const std::string& id);
// The container's cgroup directories (with their hierarchies) as the runtime sees them now.
std::vector<cg::CgroupDir> cgroupDirsOf(const ContainerState& s);

// Applies linux.resources to a live container's cgroups.
void updateContainer(const GlobalOptions& g, const std::string& id, const cg::Resources& resources);
void pauseContainer(const GlobalOptions& g, const std::string& id);
void resumeContainer(const GlobalOptions& g, const std::string& id);
// The container's processes (host pids, sorted); empty once it stopped.
std::vector<pid_t> containerPids(const GlobalOptions& g, const std::string& id);

}  // namespace sv::runc
