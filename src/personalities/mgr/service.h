// The Mgr RPC interface on top of the id allocator, with the table persisted on every change.
#pragma once

#include <chrono>
#include <functional>
#include <ctime>
#include <string>
#include <vector>

#include "ipc/mgr.capnp.h"
#include "personalities/mgr/id_alloc.h"

namespace sv::mgr {

// Where the table lives and how it is saved: allocations and frees are fsynced (a block
// handed out must never be handed out again after a crash); state-only changes are not.
class Table {
 public:
  // storeRoots: where the containers' inner-engine stores live, one root per engine (docker,
  // containerd); none: no stores.
  Table(IdAllocator& alloc, int dataDirFd, std::vector<std::string> storeRoots = {})
      : alloc_(alloc),
        dataDirFd_(dataDirFd),
        policyName_(sv::mgr::policyName(alloc.policy())),
        storeRoots_(std::move(storeRoots)) {}
  IdAllocator& alloc() { return alloc_; }
  const std::string& policyName() const { return policyName_; }
  void save(bool durable);
  // Frees containers whose rootfs is gone; saves if anything changed.
  void reap();
  // The same before handing out a block: at most once a second (one stat per known container
  // each time), unless every block is taken and a freed one could help now.
  void reapBeforeAllocating();
  // The container's stores, one per root, made for its range (a new range: made anew).
  std::vector<std::string> ensureStores(const Allocation& a, bool fresh);
  // Removes the stores of ids the table no longer holds.
  void removeStoresOfGone();
  void removeStore(const std::string& id);

  static constexpr const char* kFileName = "ids.json";

 private:
  IdAllocator& alloc_;
  std::chrono::steady_clock::time_point lastReap_{};
  int dataDirFd_;
  std::string policyName_;
  std::vector<std::string> storeRoots_;
};

// A rootfs's identity ("" when it cannot be read): "under:<dev>:<ino>" of the rootfs directory
// itself, beneath whatever is mounted on it (a rootfs that is a mount point changes what stat
// sees when sysvisor-runc replaces the engine's overlay there by its id view); for Docker's
// ".../merged", which Docker removes at every stop, "<dev>:<ino>" of the layer directory above.
std::string rootfsKey(const std::string& rootfs);
// Whether a container's rootfs still exists: the path is there and, when its key was recorded,
// still the same directory (a bundle rebuilt at the same path is another rootfs). Keys without
// a prefix, from older tables, compare what stat sees.
bool rootfsExists(const std::string& rootfs, const std::string& key);

class MgrService final : public ipc::schema::Mgr::Server {
 public:
  explicit MgrService(Table& table) : table_(table), started_(::time(nullptr)) {}

 protected:
  kj::Promise<void> register_(RegisterContext context) override;
  kj::Promise<void> unregister(UnregisterContext context) override;
  kj::Promise<void> status(StatusContext context) override;

 private:
  Table& table_;
  int64_t started_;  // for status: when this daemon started serving
};

}  // namespace sv::mgr
