// The manager's pool of host ids (one `sysvisor:<start>:<count>` line in /etc/subuid and one in
// /etc/subgid) cut into exclusive 65536-id blocks, one per container. Pure logic: the daemon
// does the file I/O, the locking and the logging; this only decides and (de)serializes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sv::mgr {

inline constexpr uint32_t kBlockSize = 65536;

// What happens when every block is taken: kNoReuse refuses the container, kReuse lets it share
// the least-used block (weaker isolation, so the caller logs a warning).
enum class SubidPolicy { kReuse, kNoReuse };
std::optional<SubidPolicy> policyFromName(std::string_view name);  // "reuse" / "no-reuse"
const char* policyName(SubidPolicy policy);

class AllocError : public std::runtime_error {
  using runtime_error::runtime_error;
};

struct Allocation {
  std::string id;                     // container id
  uint32_t uidBase = 0, gidBase = 0;  // first host uid / gid of the block
  uint32_t size = kBlockSize;
  bool running = false;  // registered by a live container; false = kept across docker stop
  int64_t since = 0;     // unix seconds when the current state began
  std::string rootfs;    // absolute path; when it is gone, the container is gone for good
  // "<dev>:<ino>" of the rootfs (or of the directory that tells for it) when registered: a
  // rootfs made again at the same path is another one. Empty: not known (older tables).
  std::string rootfsKey;
  bool shared = false;   // handed out under the reuse policy while the pool was exhausted

  bool operator==(const Allocation&) const = default;
};

class IdAllocator {
 public:
  // Block i is uids [uidStart + i*65536, +65536) and gids [gidStart + i*65536, +65536); ids past
  // the last whole block are unused. Throws AllocError for a pool without a whole block or one
  // reaching id 4294967295 ((uid_t)-1, which no id map may contain).
  IdAllocator(uint32_t uidStart, uint32_t gidStart, uint64_t poolSize, SubidPolicy policy);

  // The container's block: its existing one (same id: kept across stop/start; rootfs updated,
  // running=true, since=now unless it was already running) or a new one, next-fit from the
  // cursor. Exhausted: kNoReuse throws AllocError saying how many blocks are in use and what to
  // do; kReuse hands out the block with the fewest holders (lowest base on ties) with
  // shared=true. Throws AllocError for an empty id or a rootfs that is not absolute.
  const Allocation& acquire(const std::string& id, const std::string& rootfs, int64_t now,
                            const std::string& rootfsKey = {});
  // The container stopped (gone=false: keep the block, running=false, since=now if it was
  // running) or is gone for good (gone=true: free it). false for an unknown id.
  bool release(const std::string& id, bool gone, int64_t now);
  const Allocation* find(const std::string& id) const;
  std::vector<Allocation> list() const;                  // sorted by uidBase, then id
  size_t blockCount() const { return holders_.size(); }  // poolSize / kBlockSize
  // Blocks with no holder (shared blocks count once however many hold them).
  size_t freeCount() const { return free_.size(); }
  // Frees every block whose rootfs no longer exists (exists(rootfs, rootfsKey) is false),
  // running or not: a live container's rootfs always exists, and after a reboot or a lost
  // `delete` a "running" entry is stale. Returns the freed ids, sorted.
  std::vector<std::string> reap(
      const std::function<bool(const std::string& rootfs, const std::string& key)>& exists);

  // JSON: {"version":1,"uidStart","gidStart","poolSize","cursor","allocations":[...]}. The
  // policy is a daemon flag, not part of the table. load() replaces the table only when the
  // whole text is valid; otherwise it throws AllocError naming the problem and keeps the old
  // table (a daemon must never hand out blocks from a table it cannot trust).
  std::string serialize() const;
  void load(std::string_view json);

  SubidPolicy policy() const { return policy_; }
  uint32_t uidStart() const { return uidStart_; }
  uint32_t gidStart() const { return gidStart_; }
  uint64_t poolSize() const { return poolSize_; }
  uint32_t cursor() const { return cursor_; }  // the block next-fit looks at first

 private:
  uint32_t blockOf(const Allocation& a) const { return (a.uidBase - uidStart_) / kBlockSize; }
  void hold(uint32_t block);
  void unhold(uint32_t block);
  uint32_t pickBlock(bool& shared) const;

  uint32_t uidStart_, gidStart_;
  uint64_t poolSize_;
  SubidPolicy policy_;
  uint32_t cursor_ = 0;
  std::map<std::string, Allocation> byId_;
  std::vector<uint32_t> holders_;  // per block
  // Both kept in step with holders_ so acquire and release are O(log n): the free blocks by
  // index (next-fit), and the held ones by (holders, index) (the reuse policy's choice).
  std::set<uint32_t> free_;
  std::set<std::pair<uint32_t, uint32_t>> held_;
};

}  // namespace sv::mgr
