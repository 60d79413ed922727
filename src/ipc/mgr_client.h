// The runtime's side of sysvisor-mgr: plain types in and out, Cap'n Proto hidden in the .cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sv::ipc {

inline constexpr const char* kMgrSocket = "/run/sysvisor/mgr.sock";
inline constexpr const char* kMgrStartHint =
    "start it with `systemctl start sysvisor-mgr` or `sysvisor-mgr &`";

struct IdRange {
  uint32_t uidBase = 0, gidBase = 0, size = 0;
};

struct ContainerInfo {
  std::string id;
  IdRange range;
  bool running = false;
  int64_t since = 0;
  std::string rootfs;
  bool shared = false;
};

struct PoolInfo {
  uint32_t uidStart = 0, gidStart = 0;
  uint64_t size = 0;
  std::string policy;
  uint32_t blocksInUse = 0, blocks = 0;
};

// A daemon's own health line: its version, pid and start (unix seconds).
struct DaemonInfo {
  std::string version;
  int32_t pid = 0;
  int64_t started = 0;
};

struct MgrStatus {
  PoolInfo pool;
  std::vector<ContainerInfo> containers;
  DaemonInfo daemon;
};

class BlockingRpc;

// Connects at construction (DaemonDown when mgr is not running); each call is one round trip.
class MgrClient {
 public:
  explicit MgrClient(const std::string& socketPath = kMgrSocket,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~MgrClient();

  struct Registered {
    IdRange range;
    bool fresh = false;   // allocated by this call, not kept from an earlier run of the id
    std::string warning;  // e.g. the pool is exhausted and the range is shared
    std::string store;            // inner Docker's store (bound at /var/lib/docker inside)
    std::string containerdStore;  // inner containerd's (at /var/lib/containerd)
  };
  // RemoteError for a refused request (its text says what to do).
  Registered registerContainer(const std::string& id, const std::string& rootfs);
  // false when mgr did not know the id.
  bool unregisterContainer(const std::string& id, bool gone);
  MgrStatus status();

 private:
  std::unique_ptr<BlockingRpc> rpc_;
};

}  // namespace sv::ipc
