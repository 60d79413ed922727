#include "personalities/mgr/service.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "base/daemon_util.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::mgr {

namespace {

int64_t nowSeconds() { return static_cast<int64_t>(::time(nullptr)); }

void fill(ipc::schema::IdRange::Builder b, const Allocation& a) {
  b.setUidBase(a.uidBase);
  b.setGidBase(a.gidBase);
  b.setSize(a.size);
}

// Container ids come from the runtime, which validated them; mgr still refuses what could
// not be one, so a confused caller cannot fill the table with junk.

}  // namespace

void Table::save(bool durable) {
  writeFileAtomic(dataDirFd_, kFileName, alloc_.serialize(), 0600, durable);
}

namespace {

// Docker removes an overlay's "merged" directory at every stop: the layer directory above it
// tells whether the rootfs still exists.
bool isDockerMerged(const std::string& rootfs) { return rootfs.ends_with("/merged"); }

constexpr std::string_view kUnderKey = "under:";

std::string devIno(const struct stat& st) { return fmt::format("{}:{}", st.st_dev, st.st_ino); }

// The directory at path itself, beneath whatever is mounted on it (an engine's overlay, then
// sysvisor-runc's id view of it). Not a mount point (most rootfs, and every one while its
// engine has it unmounted): what stat sees. Else looked up in a non-recursive clone of the
// mount its parent is on, which has none of the mounts on top (a mount namespace operation,
// so only then). nullopt with errno set when it cannot be read.
std::optional<std::string> underKeyOf(const std::string& path) {
  struct statx sx {};
  // DONT_SYNC: a mount point with a dead FUSE server on it answers from its cache.
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC,
              STATX_INO, &sx) == 0 &&
      (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
      !(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
    return fmt::format("{}:{}", makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino);
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  std::string parent = slash == 0 ? "/" : p.substr(0, slash), name = p.substr(slash + 1);
  UniqueFd clone(static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, parent.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!clone) return std::nullopt;
  struct stat st;
  if (::fstatat(clone.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
  return devIno(st);
}

}  // namespace

std::string rootfsKey(const std::string& rootfs) {
  struct stat st;
  if (isDockerMerged(rootfs)) {
    std::string layer = rootfs.substr(0, rootfs.size() - 7);
    return ::stat(layer.c_str(), &st) == 0 ? devIno(st) : std::string();
  }
  std::optional<std::string> key = underKeyOf(rootfs);
  return key ? std::string(kUnderKey) + *key : std::string();
}

bool rootfsExists(const std::string& rootfs, const std::string& key) {
  if (key.starts_with(kUnderKey)) {
    std::optional<std::string> now = underKeyOf(rootfs);
    if (!now) return errno != ENOENT;
    return key.substr(kUnderKey.size()) == *now;
  }
  // Docker's layer directory, or a key from before "under:" keys (the rootfs as stat sees it).
  std::string path = isDockerMerged(rootfs) ? rootfs.substr(0, rootfs.size() - 7) : rootfs;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno != ENOENT;
  return key.empty() || key == devIno(st);
}

void Table::reapBeforeAllocating() {
  auto now = std::chrono::steady_clock::now();
  if (alloc_.freeCount() > 0 && now - lastReap_ < std::chrono::seconds(1)) return;
  reap();
}

void Table::reap() {
  lastReap_ = std::chrono::steady_clock::now();
  std::vector<std::string> freed = alloc_.reap(rootfsExists);
  for (const auto& id : freed) {
    log::info("container {}: rootfs gone, id range freed", id);
    removeStore(id);
  }
  if (!freed.empty()) save(true);
}

std::vector<std::string> Table::ensureStores(const Allocation& a, bool fresh) {
  // Stores left from an earlier range of the id belong to other host ids: start over.
  if (fresh) removeStore(a.id);
  std::vector<std::string> out;
  for (const std::string& root : storeRoots_) {
    std::string path = root + "/" + a.id;
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      throwSysError(errno, "mkdir", fmt::format("'{}'", path));
    SV_SYSCALL(::lchown(path.c_str(), a.uidBase, a.gidBase), "'{}'", path);
    out.push_back(std::move(path));
  }
  return out;
}

void Table::removeStore(const std::string& id) {
  if (!daemon::plausibleContainerId(id)) return;
  for (const std::string& root : storeRoots_) {
    std::error_code ec;
    // remove_all removes symlinks, never what they point to.
    std::filesystem::remove_all(root + "/" + id, ec);
    if (ec) log::warn("container {}: removing its store in {}: {}", id, root, ec.message());
  }
}

void Table::removeStoresOfGone() {
  for (const std::string& root : storeRoots_) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
      std::string id = e.path().filename();
      if (alloc_.find(id)) continue;
      log::info("container {}: gone, its store in {} removed", id, root);
      std::error_code rm;
      if (daemon::plausibleContainerId(id)) std::filesystem::remove_all(e.path(), rm);
    }
  }
}

kj::Promise<void> MgrService::register_(RegisterContext context) {
  auto p = context.getParams();
  std::string id = p.getId().cStr(), rootfs = p.getRootfs().cStr();
  auto r = context.getResults();
  if (!daemon::plausibleContainerId(id) || rootfs.empty() || rootfs[0] != '/') {
    r.setError(fmt::format("register: invalid container id \"{}\" or rootfs \"{}\" (the rootfs "
                           "must be an absolute path)",
                           id, rootfs));
    return kj::READY_NOW;
  }
  try {
    table_.reapBeforeAllocating();
    const Allocation* before = table_.alloc().find(id);
    bool known = before != nullptr;
    uint32_t oldBase = known ? before->uidBase : 0;
    const Allocation& a = table_.alloc().acquire(id, rootfs, nowSeconds(), rootfsKey(rootfs));
    bool fresh = !known || a.uidBase != oldBase;
    std::vector<std::string> stores;
    try {
      stores = table_.ensureStores(a, fresh);
      // A new block must be on disk before anyone uses it; a restart only changes the state.
      table_.save(fresh);
    } catch (...) {
      // No half-registered container: a range allocated by this call goes back to the pool
      // (also when the table could not be saved: memory and disk must agree).
      if (fresh) {
        table_.alloc().release(id, true, nowSeconds());
        table_.removeStore(id);
      }
      throw;
    }
    fill(r.initRange(), a);
    r.setFresh(fresh);
    if (stores.size() == 2) {
      r.setStore(stores[0]);
      r.setContainerdStore(stores[1]);
    }
    if (a.shared) {
      std::string w = fmt::format(
          "the id pool is exhausted: container {} shares host ids {}-{} with another container "
          "(policy reuse; use --subid-policy no-reuse to refuse instead)",
          id, a.uidBase, a.uidBase + a.size - 1);
      log::warn("{}", w);
      r.setWarning(w);
    }
    log::info("container {}: {} ids {}-{} (rootfs {})", id, fresh ? "allocated" : "kept",
              a.uidBase, a.uidBase + a.size - 1, rootfs);
  } catch (const std::system_error& e) {
    int err = e.code().value();
    // A full data root: said plainly, with what to do (the bare errno names only a file).
    std::string msg =
        err == ENOSPC || err == EDQUOT
            ? fmt::format("sysvisor-mgr's data root is full ({}): free space on that file "
                          "system, or restart sysvisor-mgr with --data-root on a larger one, "
                          "then create the container again",
                          e.what())
            : e.what();
    log::error("container {}: {}", id, msg);
    r.setError(msg);
  } catch (const std::exception& e) {
    log::error("container {}: {}", id, e.what());
    r.setError(e.what());
  }
  return kj::READY_NOW;
}

kj::Promise<void> MgrService::unregister(UnregisterContext context) {
  auto p = context.getParams();
  std::string id = p.getId().cStr();
  bool gone = p.getGone();
  bool known = table_.alloc().release(id, gone, nowSeconds());
  if (known) {
    table_.save(gone);
    if (gone) table_.removeStore(id);
    log::info("container {}: {}", id, gone ? "gone, id range freed" : "stopped, id range kept");
  }
  context.getResults().setKnown(known);
  return kj::READY_NOW;
}

kj::Promise<void> MgrService::status(StatusContext context) {
  table_.reap();
  auto r = context.getResults();
  const IdAllocator& alloc = table_.alloc();
  std::vector<Allocation> all = alloc.list();
  auto pool = r.initPool();
  pool.setUidStart(alloc.uidStart());
  pool.setGidStart(alloc.gidStart());
  pool.setSize(alloc.poolSize());
  pool.setPolicy(table_.policyName());
  pool.setBlocks(static_cast<uint32_t>(alloc.blockCount()));
  pool.setBlocksInUse(static_cast<uint32_t>(alloc.blockCount() - alloc.freeCount()));
  auto list = r.initContainers(static_cast<unsigned>(all.size()));
  for (unsigned i = 0; i < all.size(); ++i) {
    auto c = list[i];
    c.setId(all[i].id);
    fill(c.initRange(), all[i]);
    c.setRunning(all[i].running);
    c.setSince(all[i].since);
    c.setRootfs(all[i].rootfs);
    c.setShared(all[i].shared);
  }
  auto d = r.initDaemon();
  d.setVersion(SV_VERSION);
  d.setPid(::getpid());
  d.setStarted(started_);
  return kj::READY_NOW;
}

}  // namespace sv::mgr
