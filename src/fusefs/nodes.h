// FUSE node ids of sysvisor-fs: one per (container, path) the kernel has looked up. An id must
// mean the same after a restart of the daemon, because the kernel keeps using the ids it was
// given (a bind mount's root keeps its node forever): ids are recorded in an append-only log
// on tmpfs when first handed out, and read back at start.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/unique_fd.h"

namespace sv::fs {

inline constexpr uint64_t kRootNode = 1;  // FUSE_ROOT_ID: the mount point

struct NodeKey {
  std::string cid;   // container id
  std::string path;  // as the container sees it: "/" is the container's directory
};

class NodeTable {
 public:
  // logPath: the log to read and append to ("" keeps nothing).
  explicit NodeTable(const std::string& logPath);

  // The node of (cid, path), created if new; counts one kernel lookup.
  uint64_t ref(std::string_view cid, std::string_view path);
  std::optional<NodeKey> get(uint64_t node) const;
  // The kernel dropped n lookups of the node; at none left, the node is gone.
  void forget(uint64_t node, uint64_t n);
  // Keeps only the nodes of these containers and rewrites the log.
  void retain(const std::set<std::string, std::less<>>& cids);
  // A container is gone: its nodes too.
  void drop(std::string_view cid);
  size_t size() const;

 private:
  struct Node {
    NodeKey key;
    uint64_t nlookup = 0;
  };
  void rewriteLocked();
  void append(uint64_t node, const NodeKey& key);

  std::string logPath_;
  UniqueFd log_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Node> nodes_;
  std::unordered_map<std::string, uint64_t> byKey_;  // cid + '\0' + path
  size_t logLines_ = 0;
};

}  // namespace sv::fs
