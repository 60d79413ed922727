// Per-container state under --root: <root>/<id>/{state.json, exec.fifo, .lock}, and the
// runtime's compiled seccomp programs in <root>/.seccomp-cache. The status is computed from
// the live process (pid + start time), never trusted from the file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace sv::runc {

enum class Status { kCreating, kCreated, kRunning, kPaused, kStopped };
const char* statusName(Status s);

struct ContainerState {
  std::string id;
  pid_t pid = 0;
  uint64_t pidStartTime = 0;
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339 with nanoseconds, UTC
  std::string ociVersion;
  std::map<std::string, std::string> annotations;
  bool privatePidNs = false;  // kill --all and delete can rely on pid namespace teardown
  uint64_t pidNsInode = 0;    // to find every process of the container
  std::string owner;
  std::vector<std::string> cgroupPaths;  // the container's directory in every hierarchy
  std::string freezerDir;                // "" without a freezer
  bool freezerV2 = false;
  // config.json's hooks (raw), kept for the hooks that run after create: the bundle may be
  // gone by the time `delete` runs poststop.
  std::string hooksJson;
  std::string seccompJson;  // linux.seccomp (raw), for the processes `exec` starts
  // A container without a mount namespace of its own: the bind of its rootfs in ours that
  // carries all its mounts (mount id and path), detached at delete.
  std::string systemdUnit;  // --systemd-cgroup: the transient unit, stopped at delete
  int sharedRootfsMountId = 0;
  std::string sharedRootfsPath;
  // A system container: its root's host ids, and the mgr socket that holds its range ("" when
  // the range did not come from mgr), told at delete.
  bool systemContainer = false;
  uint32_t uidBase = 0, gidBase = 0, idSize = 0;
  std::string mgrSocket;
  // The sysvisor-fs socket the container registers with ("" without emulation), set before
  // its init exists so that `delete` after a killed create unregisters it as well (an id the
  // daemon does not know costs nothing); fsRegistered once the daemon answered.
  std::string fsSocket;
  bool fsRegistered = false;
  // The rootfs overlay's upper dir (or, where idmapped mounts are refused, the whole rootfs),
  // shifted to the range while the container runs (shifted back at pause and delete).
  std::string shiftedUpper;
  // The init is systemd: `kill` turns SIGTERM (docker stop) into SIGRTMIN+3, systemd's halt.
  bool systemdInit = false;
  // The relay of a pty-backed /dev/console to the init's stdout (a systemd init without
  // process.terminal), killed at delete if still there: pid and start time.
  pid_t consoleRelayPid = 0;
  uint64_t consoleRelayStart = 0;
  // The engine's id view (fusefs/id_view.h) that replaced the engine's overlay on the rootfs
  // path while the container lives: the overlay's mountinfo line (its mountpoint is the view's
  // path; rebuilt there at delete), the server's pid and start time.
  std::string idViewEngineMount;
  pid_t idViewPid = 0;
  uint64_t idViewStart = 0;
};

std::string stateToJson(const ContainerState& s);
ContainerState stateFromJson(const std::string& json);

// The runtime-spec state (what hooks get on stdin): ociVersion, id, status, pid (when > 0),
// bundle, annotations (when any).
std::string specState(const ContainerState& s, const char* status, pid_t pid);

// The JSON `state` prints (runtime-spec state plus runc's extra fields), pretty-printed.
std::string stateReport(const ContainerState& s, Status status, bool pretty);

class StateStore {
 public:
  explicit StateStore(std::string root);
  const std::string& root() const { return root_; }
  std::string dir(const std::string& id) const { return root_ + "/" + id; }

  // Creates the root (0700) if needed.
  void ensureRoot() const;
  // <root>/.seccomp-cache (O_PATH), made (0700, with the root if needed) by the first create
  // with a seccomp profile and only opened after that. An invalid fd (no cache) when it exists
  // but cannot be opened.
  UniqueFd openSeccompCache() const;
  // Creates <root>/<id> (0700) and locks it; throws UserError if the id exists.
  UniqueFd createAndLock(const std::string& id) const;
  // Locks an existing container; nullopt if it does not exist.
  std::optional<UniqueFd> lock(const std::string& id) const;
  std::optional<ContainerState> load(const std::string& id) const;
  void save(const ContainerState& s) const;
  void remove(const std::string& id) const;
  std::vector<std::string> list() const;

  Status status(const ContainerState& s) const;
  bool hasExecFifo(const std::string& id) const;
  std::string execFifoPath(const std::string& id) const { return dir(id) + "/exec.fifo"; }
  // Removes what a create killed before its directory got its name left behind; false if a
  // create for that id is still running.
  bool removeStaleCreating(const std::string& id) const;

 private:
  std::string creatingDir(const std::string& id) const { return root_ + "/.creating-" + id; }
  std::string root_;
};

// Is the process the container's init (same pid and start time) and not a zombie?
bool initAlive(const ContainerState& s);

std::string nowRfc3339();

}  // namespace sv::runc
