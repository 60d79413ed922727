#include "nsutil/id_shift.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <unordered_set>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::ns {

namespace {

// Directory fds held along the path being walked. A container can nest directories far deeper
// than the fd limit; ancestors further up are closed and reopened through ".." on the way back
// (checked against the inode they had), so depth costs no fds and cannot make a stop fail.
constexpr size_t kMaxOpenDirs = 64;
constexpr const char* kCapXattr = "security.capability";
constexpr unsigned kStatxMask =
    STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_NLINK | STATX_MNT_ID;

uint32_t le32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void putLe32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

struct Dir {
  UniqueFd fd;  // invalid while the walk is more than kMaxOpenDirs below it
  dev_t dev = 0;
  ino_t ino = 0;
  std::string name;     // relative to the parent, for messages
  std::string entries;  // d_type byte + NUL-terminated name per entry, read once at open
  size_t next = 0;
};

class Shifter {
 public:
  Shifter(const std::string& root, uint32_t from, uint32_t size, int64_t delta)
      : root_(root), from_(from), size_(size), delta_(delta) {}

  ShiftStats run() {
    UniqueFd fd(SV_SYSCALL(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                           "shifting ids under '{}'", root_));
    struct statx stx {};
    SV_SYSCALL(::statx(fd.get(), "", AT_EMPTY_PATH, kStatxMask, &stx), "'{}'", root_);
    mntId_ = stx.stx_mnt_id;
    ++stats_.files;
    stack_.push_back(enterDir(std::move(fd), stx, ""));
    while (!stack_.empty()) {
      Dir& dir = stack_.back();
      if (dir.next == dir.entries.size()) {
        UniqueFd child = std::move(dir.fd);
        stack_.pop_back();
        if (!stack_.empty() && !stack_.back().fd) reopenFrom(stack_.back(), child.get());
        continue;
      }
      unsigned char type = static_cast<unsigned char>(dir.entries[dir.next]);
      const char* name = dir.entries.c_str() + dir.next + 1;
      dir.next += std::strlen(name) + 2;
      std::optional<Dir> sub = visit(dir.fd.get(), name, type);
      if (!sub) continue;
      stack_.push_back(std::move(*sub));
      if (stack_.size() > kMaxOpenDirs) stack_[stack_.size() - 1 - kMaxOpenDirs].fd.reset();
    }
    return stats_;
  }

 private:
  bool inRange(uint32_t id) const { return id >= from_ && id - from_ < size_; }
  uint32_t shifted(uint32_t id) const {
    return inRange(id) ? static_cast<uint32_t>(int64_t(id) + delta_) : id;
  }

  // For messages only: the path of name in the directory on top of the stack.
  std::string pathOf(const char* name) const {
    std::string p = root_;
    for (const Dir& d : stack_)
      if (!d.name.empty()) p += "/" + d.name;
    return name[0] ? p + "/" + name : p;
  }

  // Handles one entry of the directory fd on top of the stack (d_type from getdents); returns
  // the subdirectory to walk.
  std::optional<Dir> visit(int dirfd, const char* name, unsigned char type) {
    ++stats_.files;
    // Most entries of an upper dir are regular files: open them right away and stat the fd
    // (one syscall less per file than stat by name, then open).
    if (type == DT_REG) {
      visitFile(dirfd, name);
      return std::nullopt;
    }
    struct statx stx {};
    auto found = SV_SYSCALL_IF_EXISTS(
        ::statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, kStatxMask, &stx), "'{}'",
        pathOf(name));
    // Gone meanwhile, or the root of another mount (a mountpoint shows the mounted root).
    if (!found || stx.stx_mnt_id != mntId_) return std::nullopt;
    mode_t mode = stx.stx_mode;
    if (S_ISDIR(mode)) {
      UniqueFd fd(SV_SYSCALL(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                             "'{}'", pathOf(name)));
      return enterDir(std::move(fd), stx, name);
    }
    if (S_ISREG(mode)) {  // a filesystem without d_type
      visitFile(dirfd, name);
      return std::nullopt;
    }
    uint32_t uid = shifted(stx.stx_uid), gid = shifted(stx.stx_gid);
    if (uid == stx.stx_uid && gid == stx.stx_gid) return std::nullopt;
    if (stx.stx_nlink > 1 && !linked_.insert(stx.stx_ino).second) return std::nullopt;
    SV_SYSCALL(::fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW), "'{}'", pathOf(name));
    // Device nodes lose setuid/setgid too. fchmodat would follow a symlink, so the mode is
    // restored through an O_PATH fd of this very inode.
    if (!S_ISLNK(mode) && (mode & (S_ISUID | S_ISGID))) {
      UniqueFd fd(
          SV_SYSCALL(::openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), "'{}'", pathOf(name)));
      checkSame(fd.get(), stx, name);
      std::string self = "/proc/self/fd/" + std::to_string(fd.get());
      SV_SYSCALL(::chmod(self.c_str(), mode & 07777), "'{}'", pathOf(name));
    }
    ++stats_.changed;
    return std::nullopt;
  }

  // A regular file, through an fd: the stat, the capability read, the chown and the rewrite all
  // act on one inode, and O_NOFOLLOW refuses a symlink put in its place. O_NONBLOCK: a FIFO put
  // in its place must not hang the open.
  void visitFile(int dirfd, const char* name) {
    auto opened = SV_SYSCALL_IF_EXISTS(
        ::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), "'{}'",
        pathOf(name));
    if (!opened) return;
    UniqueFd fd(*opened);
    struct statx stx {};
    SV_SYSCALL(::statx(fd.get(), "", AT_EMPTY_PATH, kStatxMask, &stx), "'{}'", pathOf(name));
    if (stx.stx_mnt_id != mntId_) return;  // a file bind-mounted over this one
    if (!S_ISREG(stx.stx_mode))
      throw UserError(
          fmt::format("'{}' was replaced while its ids were being shifted", pathOf(name)));
    uint32_t uid = shifted(stx.stx_uid), gid = shifted(stx.stx_gid);
    if (uid == stx.stx_uid && gid == stx.stx_gid) return;
    // Another name of an inode shifted already must not be shifted twice.
    if (stx.stx_nlink > 1 && !linked_.insert(stx.stx_ino).second) return;
    chownFd(fd.get(), uid, gid, stx.stx_mode, name);
    ++stats_.changed;
  }

  // chown clears setuid/setgid (not on directories) and security.capability: both are read
  // before and put back after, the capability's v3 rootid shifted like the owner.
  void chownFd(int fd, uint32_t uid, uint32_t gid, mode_t mode, const char* name) {
    unsigned char cap[XATTR_CAPS_SZ_3 + 8];
    ssize_t capSize = -1;
    if (S_ISREG(mode)) {
      capSize = ::fgetxattr(fd, kCapXattr, cap, sizeof cap);
      if (capSize < 0 && errno != ENODATA && errno != EOPNOTSUPP)
        throwSysError(errno, "fgetxattr", fmt::format("{} of '{}'", kCapXattr, pathOf(name)));
      // Read in the initial namespace, a v3 capability whose rootid is 0 comes back as v2.
      if (capSize == XATTR_CAPS_SZ_3 && (le32(cap) & VFS_CAP_REVISION_MASK) == VFS_CAP_REVISION_3)
        putLe32(cap + XATTR_CAPS_SZ_2, shifted(le32(cap + XATTR_CAPS_SZ_2)));
    }
    SV_SYSCALL(::fchown(fd, uid, gid), "'{}'", pathOf(name));
    if (mode & (S_ISUID | S_ISGID)) SV_SYSCALL(::fchmod(fd, mode & 07777), "'{}'", pathOf(name));
    if (capSize > 0)
      SV_SYSCALL(::fsetxattr(fd, kCapXattr, cap, static_cast<size_t>(capSize), 0), "{} of '{}'",
                 kCapXattr, pathOf(name));
  }

  // The fd opened by name is the inode that was stat'ed (nobody swapped the entry in between).
  void checkSame(int fd, const struct statx& stx, const char* name) {
    struct stat st {};
    SV_SYSCALL(::fstat(fd, &st), "'{}'", pathOf(name));
    if (st.st_ino != stx.stx_ino || st.st_dev != makedev(stx.stx_dev_major, stx.stx_dev_minor))
      throw UserError(
          fmt::format("'{}' was replaced while its ids were being shifted", pathOf(name)));
  }

  // Shifts a directory opened by name (or the root) and reads its entries.
  Dir enterDir(UniqueFd fd, const struct statx& stx, const char* name) {
    checkSame(fd.get(), stx, name);
    uint32_t uid = shifted(stx.stx_uid), gid = shifted(stx.stx_gid);
    if (uid != stx.stx_uid || gid != stx.stx_gid) {
      chownFd(fd.get(), uid, gid, stx.stx_mode, name);
      ++stats_.changed;
    }
    Dir d;
    d.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    d.ino = stx.stx_ino;
    d.name = name;
    d.fd = std::move(fd);
    // All names are read at once, so the fd can be closed while the walk is deep below.
    for (;;) {
      ssize_t n = SV_SYSCALL(::getdents64(d.fd.get(), buf_, sizeof buf_), "'{}'", pathOf(name));
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        auto* e = reinterpret_cast<struct dirent64*>(buf_ + off);
        off += e->d_reclen;
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        d.entries += static_cast<char>(e->d_type);
        d.entries.append(e->d_name, std::strlen(e->d_name) + 1);
      }
    }
    return d;
  }

  // Reopens an ancestor closed for depth through the ".." of its child.
  void reopenFrom(Dir& dir, int childFd) {
    UniqueFd fd(SV_SYSCALL(::openat(childFd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                           "parent of '{}'", pathOf("")));
    struct stat st {};
    SV_SYSCALL(::fstat(fd.get(), &st), "'{}'", pathOf(""));
    if (st.st_ino != dir.ino || st.st_dev != dir.dev)
      throw UserError(fmt::format("'{}' was moved while its ids were being shifted", pathOf("")));
    dir.fd = std::move(fd);
  }

  const std::string& root_;
  uint32_t from_, size_;
  int64_t delta_;
  uint64_t mntId_ = 0;
  ShiftStats stats_;
  std::vector<Dir> stack_;
  std::unordered_set<uint64_t> linked_;  // inodes with several names, shifted once
  alignas(struct dirent64) char buf_[32768];
};

}  // namespace

ShiftStats shiftIds(const std::string& root, uint32_t from, uint32_t size, int64_t delta) {
  // (uid_t)-1 means "no change" to chown and is no valid id: the shifted range must stay below.
  constexpr int64_t kMaxId = 0xfffffffeLL;
  if (size == 0 || int64_t(from) + size - 1 > kMaxId || int64_t(from) + delta < 0 ||
      int64_t(from) + size - 1 + delta > kMaxId)
    throw UserError(fmt::format(
        "cannot shift ids [{}, {}) by {} under '{}': the result leaves the valid id range", from,
        int64_t(from) + size, delta, root));
  auto shifter = std::make_unique<Shifter>(root, from, size, delta);  // 32 KiB buffer: heap
  return shifter->run();
}

}  // namespace sv::ns
