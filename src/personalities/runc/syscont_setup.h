// The runtime's side of turning a bundle into a system container: what needs the host (the id
// range from sysvisor-mgr, the host's namespaces, cgroup ownership), around the pure
// transform in syscont.h.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "nsutil/mounts.h"
#include "nsutil/overlay_idmap.h"
#include "oci/spec.h"
#include "personalities/runc/lifecycle.h"
#include "personalities/runc/state_store.h"
#include "personalities/runc/syscont.h"

namespace sv::ipc {
class FsClient;
}

namespace sv::runc {

// What create learned, for cleanup and for delete.
struct SysContSetup {
  IdRange range;
  bool fromMgr = false;  // mgr holds a range for this id: delete (or a failed create) tells it
  bool fresh = false;    // mgr allocated the range for this create (a failed create frees it)
  bool systemdInit = false;  // the init is systemd (see systemdInitPath)
};

// The init's program inside the image (rootfs), symlinks resolved within the rootfs, when it
// is systemd (isSystemdPath): process.args[0] as an absolute path, or a bare name looked up
// in the PATH of process.env (as the init will). "" when it is not, or cannot be told.
std::string systemdInitPath(const std::string& rootfs, const oci::Process& process);

// The range used with --no-mgr (Sysbox's fallback, 231072), the same for every container.
inline constexpr IdRange kNoMgrRange{231072, 231072, 65536};

// Turns spec into a system container: its id range (kept from the spec's own mappings, or
// from mgr, or the fixed one with --no-mgr), then the transform, then the checks that need the
// host (a namespace path that is the host's own is --pid=host and the like). rootfs is the
// absolute rootfs path mgr watches to know when the container is gone for good.
SysContSetup makeSystemContainer(const GlobalOptions& g, const std::string& id,
                                 const std::string& rootfs, oci::Spec& spec);

// Tells mgr the container stopped (gone = false, its range stays with its id) or never came
// to be (gone = true). Never throws: a down mgr costs a warning, and mgr frees the range
// itself once the rootfs is gone.
void releaseRange(const std::string& mgrSocket, const std::string& id, bool gone) noexcept;

// sysvisor-fs for one create. Connects at construction, before anything exists, so a down
// daemon fails the create at once ("sysvisor-fs is not running (start it with ...)") and
// leaves nothing behind. registerInit tells the daemon about the init once it exists and opens
// the emulated files for the init to mount; a create that fails after that unregisters the
// container again (at destruction) unless keep() was called.
class FsSession {
 public:
  FsSession(std::string socket, std::string id);
  ~FsSession();
  FsSession(const FsSession&) = delete;
  FsSession& operator=(const FsSession&) = delete;

  struct Init {
    pid_t pid = 0;
    IdRange range;
    std::string hostname;
    int64_t created = 0;  // unix nanoseconds
  };
  // Throws DaemonDown, UserError (a refusal, with the daemon's reason, or an answer the
  // runtime cannot mount) or SysError.
  std::vector<ns::FsBindTree> registerInit(const Init& init);
  bool registered() const { return registered_; }
  void keep() { kept_ = true; }

 private:
  std::unique_ptr<ipc::FsClient> client_;
  std::string socket_, id_;
  bool registered_ = false, kept_ = false;
};

// sysvisor-fs for a system container, connected now; nothing for --oci-only, nor for --no-fs
// (with a warning that the container runs without emulation).
std::optional<FsSession> connectFs(const GlobalOptions& g, const std::string& id);

// Tells sysvisor-fs the container is gone (delete, and a create that failed after
// registering). Never throws: a down daemon costs a warning.
void unregisterFs(const std::string& socket, const std::string& id) noexcept;

// The rootfs, made to show image files as root-owned inside without copying them:
// - an overlay (Docker's, containerd's, Podman's) is replaced by the same overlay with idmapped
//   lower layers, its upper dir shifted to the container's range (willShift names it, for the
//   state: shifted back at pause and delete so `docker commit` and `docker diff` see 0-based
//   files);
// - anything else gets an idmapped clone (rootfsTree) that the init mounts in its place.
// An overlay with an upper dir (a writable container) is the container's via rootfsTree too:
// the engine gets a view of it (startEngineView).
struct SysContRootfs {
  UniqueFd rootfsTree;
  // An overlay with an upper dir: ours is rootfsTree (the container's root), and
  // startEngineView puts the engine's id view of it on the path in place of engineOverlay.
  std::optional<ns::OverlayMount> engineOverlay;
};
// userns: a user namespace with the container's maps (idmaps the layers or the clone).
// willShift(dir) runs before a directory is shifted, to record it: a runtime killed during or
// right after the shift leaves a state that `delete --force` shifts back (shifting either way
// touches only ids in the range it moves from, so a partial or repeated shift is undone too).
SysContRootfs prepareSystemRootfs(const std::string& rootfs, int userns, const IdRange& range,
                                  const std::function<void(const std::string&)>& willShift);
// The upper dir back to 0-based ids (delete, pause) or to the range again (resume); a no-op
// for a state without one. Throws SysError.
void shiftUpperBack(const ContainerState& s);
void shiftUpperForward(const ContainerState& s);

// Before the launch, outside the container's cgroups: the id view of r.rootfsTree (still
// detached) replaces the engine's overlay on its path (fusefs/id_view.h), recorded in s. If
// the view cannot be started (no FUSE here, or a kernel that cannot clone a detached mount),
// our overlay itself goes there instead and r.rootfsTree is emptied (the init takes the path),
// with a warning: the engine then sees the container's host ids while it runs. record() saves s once it names the view,
// before the view is on the path. Throws only when neither can be mounted.
void startEngineView(SysContRootfs& r, ContainerState& s, const std::function<void()>& record);
// Delete (and a create that failed after startEngineView): the view's server is stopped and
// the engine's overlay is mounted again in the view's place, so the engine finds the mount it
// made (it unmounts it at stop). Nothing to do for a state without a view, or when the view is
// gone already (the engine unmounted it). Never throws: a failure costs a warning.
void removeEngineView(const ContainerState& s) noexcept;

// Delegation: the container's root owns its cgroup directories (v2 also the files the kernel
// requires to be writable for delegation), so systemd and Docker inside can make cgroups.
void delegateCgroups(const std::vector<std::string>& paths, const IdRange& range);

}  // namespace sv::runc
