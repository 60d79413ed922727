// The runtime's side of sysvisor-fs: plain types in and out, Cap'n Proto hidden in the .cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ipc/mgr_client.h"

namespace sv::ipc {

inline constexpr const char* kFsSocket = "/run/sysvisor/fs.sock";
inline constexpr const char* kFsStartHint =
    "start it with `systemctl start sysvisor-fs` or `sysvisor-fs &`";

// What the daemon needs to emulate /proc and /sys for one container (fs.capnp ContainerData).
struct ContainerData {
  std::string id;
  int32_t initPid = 0;          // host pid
  uint64_t initStartTime = 0;   // clock ticks since boot (/proc/<pid>/stat field 22)
  IdRange range;
  int64_t created = 0;          // unix nanoseconds
  std::string hostname;
  std::vector<std::string> cgroupPaths;  // empty: the daemon reads /proc/<initPid>/cgroup
};

struct FsStatus {
  std::string mountpoint;
  std::vector<ContainerData> containers;
  DaemonInfo daemon;
};

class BlockingRpc;

// Connects at construction (DaemonDown when sysvisor-fs is not running); each call is one
// round trip.
class FsClient {
 public:
  explicit FsClient(const std::string& socketPath = kFsSocket,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~FsClient();

  struct Registered {
    std::string root;                // host directory of the container's subtree
    std::vector<std::string> binds;  // container paths to bind from root + path, in order
  };
  // RemoteError for a refused request (its text says what to do).
  Registered registerContainer(const ContainerData& data);
  // false when the daemon did not know the id.
  bool unregisterContainer(const std::string& id);
  FsStatus status();

 private:
  std::unique_ptr<BlockingRpc> rpc_;
};

}  // namespace sv::ipc
