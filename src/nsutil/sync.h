// The parent <-> container-init channel: small fixed frames over a SOCK_SEQPACKET pair.
#pragma once

#include <cstdint>
#include <cstring>

namespace sv::ns {

enum class SyncType : uint32_t {
  kGo = 1,           // parent -> child: in its cgroups, id maps written (fast path): go on
  kMapsWritten,      // parent -> intermediate: uid/gid maps are in place
  kNeedMaps,         // intermediate -> parent: unshared the user namespace, write the maps
  kInitPid,          // intermediate -> parent: the container init's pid (in value)
  kReady,            // child -> parent: set up, now waiting on the exec FIFO
  kError,            // child -> parent: failed; err + message
  kConsole,          // child -> parent: the pty master (SCM_RIGHTS), before kReady
  kHooks,            // child -> parent: mounts done, run the runtime's hooks
  kHooksDone,        // parent -> child: a memfd with the hook states (SCM_RIGHTS)
  kSeccompListener,  // child -> parent: the seccomp notify fd (SCM_RIGHTS), before kReady
  kFsBinds,          // child -> parent: in its namespaces and cgroups, nothing mounted yet:
                     // register with sysvisor-fs and send the emulated files
  kFsBind,           // parent -> child: one file's detached tree (SCM_RIGHTS), its path in message
  kFsBindsDone,      // parent -> child: every kFsBind is sent
  kFsBindSkipped,    // child -> parent: the container has no such path (message): not bound
};

struct SyncMsg {
  SyncType type;
  int32_t err;
  int64_t value;
  char message[1000];
};

// Returns false on EOF or error. Never throws (used in the child).
bool syncSend(int fd, SyncType type, int err = 0, int64_t value = 0, const char* message = "") noexcept;
bool syncRecv(int fd, SyncMsg& msg) noexcept;
// A message carrying an fd (SCM_RIGHTS). syncRecvFd stores a received fd (O_CLOEXEC) in
// *passed, or -1 when the message carried none.
bool syncSendFd(int fd, SyncType type, int passFd, const char* message = "") noexcept;
bool syncRecvFd(int fd, SyncMsg& msg, int* passed) noexcept;

}  // namespace sv::ns
