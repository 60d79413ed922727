#include "fusefs/id_view.h"

#define FUSE_USE_VERSION 34
#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/sys_error.h"

namespace sv::fs {

namespace {

// ---- the server ----

struct Inode {
  UniqueFd fd;  // O_PATH|O_NOFOLLOW
  dev_t dev = 0;
  ino_t ino = 0;
  mode_t type = 0;  // S_IFMT bits
  uint64_t nlookup = 0;
};

// How long the kernel may reuse a reply: one syscall of the engine's typically asks twice
// (the lookup of a name, then the attributes of what it found) and a tree walk asks for the
// same directories again and again within microseconds. 1 ms (one jiffy, in the kernel's
// rounding) serves those from the reply just made, and is too short to hide a change the
// container makes from any later command: a write racing with the very command that reads
// is a race on any filesystem. Timeouts of 0 cost ~4 requests per entry of a walk (measured:
// `find` over a Debian rootfs 19x slower than over the overlay).
constexpr double kCacheSeconds = 0.001;

struct View {
  IdShift shift;
  Inode root;
  // Every inode the kernel holds a reference to, and the live ones by (dev, ino). An inode
  // the container deleted leaves byKey (its number may come back for a new file) and gives
  // up its fd (which would keep the file's blocks) at the next sweep, and lives on in `all`
  // until the kernel forgets it.
  std::unordered_map<Inode*, std::unique_ptr<Inode>> all;
  std::map<std::pair<dev_t, ino_t>, Inode*> byKey;
};

struct Dir {
  DIR* dp = nullptr;
  off_t offset = 0;
  dirent* entry = nullptr;
};

View& viewOf(fuse_req_t req) { return *static_cast<View*>(fuse_req_userdata(req)); }

Inode& inodeOf(fuse_req_t req, fuse_ino_t ino) {
  if (ino == FUSE_ROOT_ID) return viewOf(req).root;
  return *reinterpret_cast<Inode*>(ino);
}

// The magic link of an O_PATH fd: opening it (or *xattr, chmod, truncate through it) reaches
// exactly that inode, never a path in the container.
struct ProcPath {
  char s[40];
  explicit ProcPath(int fd) { std::snprintf(s, sizeof s, "/proc/self/fd/%d", fd); }
};

struct stat toView(const View& v, struct stat st) {
  st.st_uid = v.shift.uidToView(st.st_uid);
  st.st_gid = v.shift.gidToView(st.st_gid);
  return st;
}

int statOf(int fd, struct stat& st) {
  return ::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

// The reply for in, whose attributes are st: one more reference the kernel holds.
void countEntry(const View& v, Inode* in, const struct stat& st, fuse_entry_param& e) {
  ++in->nlookup;
  e = fuse_entry_param{};
  e.ino = reinterpret_cast<fuse_ino_t>(in);
  e.attr = toView(v, st);
  e.attr_timeout = kCacheSeconds;
  e.entry_timeout = kCacheSeconds;
}

// Finds or adds the inode of an O_PATH fd (consumed) and counts the kernel's reference.
int entryOf(fuse_req_t req, UniqueFd fd, fuse_entry_param& e) {
  View& v = viewOf(req);
  struct stat st;
  if (int err = statOf(fd.get(), st)) return err;
  auto key = std::make_pair(st.st_dev, st.st_ino);
  auto it = v.byKey.find(key);
  Inode* in;
  if (it != v.byKey.end()) {
    in = it->second;
  } else {
    auto fresh = std::make_unique<Inode>();
    fresh->fd = std::move(fd);
    fresh->dev = st.st_dev;
    fresh->ino = st.st_ino;
    fresh->type = st.st_mode & S_IFMT;
    in = fresh.get();
    v.all.emplace(in, std::move(fresh));
    v.byKey.emplace(key, in);
  }
  countEntry(v, in, st, e);
  return 0;
}

// The same for parent/name. A name the view knows already costs one stat: its inode is
// opened only when it is new (and then checked to be the one stat'ed, or looked up again).
int lookupEntry(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_entry_param& e) {
  View& v = viewOf(req);
  int dir = inodeOf(req, parent).fd.get();
  for (int attempt = 0; attempt < 3; ++attempt) {
    struct stat st;
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
    auto it = v.byKey.find(std::make_pair(st.st_dev, st.st_ino));
    if (it != v.byKey.end()) {
      countEntry(v, it->second, st, e);
      return 0;
    }
    UniqueFd fd(::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return errno;
    struct stat now;
    if (int err = statOf(fd.get(), now)) return err;
    if (now.st_dev == st.st_dev && now.st_ino == st.st_ino) return entryOf(req, std::move(fd), e);
  }
  return EAGAIN;  // the name kept changing under us
}

void forgetOne(View& v, fuse_ino_t ino, uint64_t n) {
  if (ino == FUSE_ROOT_ID) return;
  auto* in = reinterpret_cast<Inode*>(ino);
  in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
  if (in->nlookup != 0) return;
  if (auto it = v.byKey.find(std::make_pair(in->dev, in->ino)); it != v.byKey.end() &&
                                                                 it->second == in)
    v.byKey.erase(it);
  v.all.erase(in);
}

void replyEntry(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_entry_param e;
  if (int err = lookupEntry(req, parent, name, e)) {
    fuse_reply_err(req, err);
    return;
  }
  // An interrupted request: the kernel never got the reference.
  if (fuse_reply_entry(req, &e) != 0) forgetOne(viewOf(req), e.ino, 1);
}

// The host owner of something the caller creates in parent: the caller's ids moved into the
// range (dockerd, host root, creates files owned by the container's root), the group left to
// the kernel under a setgid directory. EINVAL for a caller without an id in the range.
struct NewOwner {
  uid_t uid;
  gid_t gid;  // (gid_t)-1: keep what the kernel gave
};
int newOwner(fuse_req_t req, int parentFd, NewOwner& o) {
  const View& v = viewOf(req);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  auto uid = v.shift.uidToHost(ctx->uid);
  auto gid = v.shift.gidToHost(ctx->gid);
  if (!uid || !gid) return EINVAL;
  struct stat pst;
  if (int err = statOf(parentFd, pst)) return err;
  o = {*uid, (pst.st_mode & S_ISGID) ? static_cast<gid_t>(-1) : *gid};
  return 0;
}

// chown of what was just created; a setuid/setgid bit the chown clears is put back.
int applyOwner(int fd, const NewOwner& o) {
  struct stat st;
  if (int err = statOf(fd, st)) return err;
  if (::fchownat(fd, "", o.uid, o.gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
  if (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
      ::chmod(ProcPath(fd).s, st.st_mode & 07777) != 0)
    return errno;
  return 0;
}

int ownByName(int parentFd, const char* name, const NewOwner& o) {
  UniqueFd fd(::openat(parentFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errno;
  return applyOwner(fd.get(), o);
}

// Opens a regular file through its O_PATH fd (never a name) with the caller's flags, minus
// what only a name open means. O_NONBLOCK for the open itself: a lease the container holds on
// its file then fails the open (EWOULDBLOCK) instead of holding the server for the lease break
// time (45 s), every other request of the engine behind it.
int reopen(int pathFd, int flags) {
  flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);
  int fd = ::open(ProcPath(pathFd).s, flags | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && !(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, flags & ~O_ACCMODE) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// ---- operations ----

void opInit(void*, fuse_conn_info* conn) {
  // The container writes behind the kernel's back: no writeback caching of our own.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  replyEntry(req, parent, name);
}

void opForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  forgetOne(viewOf(req), ino, n);
  fuse_reply_none(req);
}

void opForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) forgetOne(viewOf(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  struct stat st;
  if (int err = statOf(inodeOf(req, ino).fd.get(), st)) {
    fuse_reply_err(req, err);
    return;
  }
  struct stat out = toView(viewOf(req), st);
  fuse_reply_attr(req, &out, kCacheSeconds);
}

int setattr(fuse_req_t req, Inode& in, struct stat* attr, int valid, fuse_file_info* fi) {
  const View& v = viewOf(req);
  ProcPath path(in.fd.get());
  if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (valid & FUSE_SET_ATTR_UID) {
      auto u = v.shift.uidToHost(attr->st_uid);
      if (!u) return EINVAL;
      uid = *u;
    }
    if (valid & FUSE_SET_ATTR_GID) {
      auto g = v.shift.gidToHost(attr->st_gid);
      if (!g) return EINVAL;
      gid = *g;
    }
    if (::fchownat(in.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
      return errno;
  }
  if (valid & FUSE_SET_ATTR_MODE) {
    if (in.type == S_IFLNK) return EOPNOTSUPP;
    int r = fi ? ::fchmod(static_cast<int>(fi->fh), attr->st_mode) : ::chmod(path.s, attr->st_mode);
    if (r != 0) return errno;
  }
  if (valid & FUSE_SET_ATTR_SIZE) {
    if (in.type != S_IFREG) return EINVAL;
    if (fi) {
      if (::ftruncate(static_cast<int>(fi->fh), attr->st_size) != 0) return errno;
    } else {
      UniqueFd fd(reopen(in.fd.get(), O_WRONLY));  // not truncate(path): it waits for a lease
      if (!fd || ::ftruncate(fd.get(), attr->st_size) != 0) return errno;
    }
  }
  if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    timespec tv[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (valid & FUSE_SET_ATTR_ATIME_NOW) tv[0].tv_nsec = UTIME_NOW;
    else if (valid & FUSE_SET_ATTR_ATIME) tv[0] = attr->st_atim;
    if (valid & FUSE_SET_ATTR_MTIME_NOW) tv[1].tv_nsec = UTIME_NOW;
    else if (valid & FUSE_SET_ATTR_MTIME) tv[1] = attr->st_mtim;
    int r = fi ? ::futimens(static_cast<int>(fi->fh), tv)
               : ::utimensat(in.fd.get(), "", tv, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    if (r != 0) return errno;
  }
  return 0;
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int valid, fuse_file_info* fi) {
  Inode& in = inodeOf(req, ino);
  if (int err = setattr(req, in, attr, valid, fi)) {
    fuse_reply_err(req, err);
    return;
  }
  opGetattr(req, ino, fi);
}

void opReadlink(fuse_req_t req, fuse_ino_t ino) {
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlinkat(inodeOf(req, ino).fd.get(), "", buf, PATH_MAX);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  buf[n] = '\0';
  fuse_reply_readlink(req, buf);
}

// mknod, mkdir, symlink: made as host root, then given the caller's mapped owner.
template <typename Make>
void makeNode(fuse_req_t req, fuse_ino_t parent, const char* name, Make make) {
  int parentFd = inodeOf(req, parent).fd.get();
  NewOwner owner;
  if (int err = newOwner(req, parentFd, owner)) {
    fuse_reply_err(req, err);
    return;
  }
  if (make(parentFd) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  if (int err = ownByName(parentFd, name, owner)) {
    ::unlinkat(parentFd, name, 0);
    ::unlinkat(parentFd, name, AT_REMOVEDIR);
    fuse_reply_err(req, err);
    return;
  }
  replyEntry(req, parent, name);
}

void opMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  // No device nodes in a container's rootfs from the host side: its root cannot make them
  // either (only overlay's 0:0 whiteout).
  if ((S_ISCHR(mode) || S_ISBLK(mode)) && rdev != 0) {
    fuse_reply_err(req, EPERM);
    return;
  }
  makeNode(req, parent, name, [&](int dir) { return ::mknodat(dir, name, mode, rdev); });
}

void opMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  makeNode(req, parent, name, [&](int dir) { return ::mkdirat(dir, name, mode); });
}

void opSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  makeNode(req, parent, name, [&](int dir) { return ::symlinkat(link, dir, name); });
}

void opLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  if (::linkat(inodeOf(req, ino).fd.get(), "", inodeOf(req, newparent).fd.get(), newname,
               AT_EMPTY_PATH) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  replyEntry(req, newparent, newname);
}

void opUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, ::unlinkat(inodeOf(req, parent).fd.get(), name, 0) == 0 ? 0 : errno);
}

void opRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req,
                 ::unlinkat(inodeOf(req, parent).fd.get(), name, AT_REMOVEDIR) == 0 ? 0 : errno);
}

void opRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned flags) {
  long r = ::syscall(SYS_renameat2, inodeOf(req, parent).fd.get(), name,
                     inodeOf(req, newparent).fd.get(), newname, flags);
  fuse_reply_err(req, r == 0 ? 0 : errno);
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  const Inode& in = inodeOf(req, ino);
  if (in.type != S_IFREG) {
    fuse_reply_err(req, EACCES);
    return;
  }
  int fd = reopen(in.fd.get(), fi->flags);
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fi->fh = static_cast<uint64_t>(fd);
  fi->keep_cache = 0;  // the container may have written since the last open
  fuse_reply_open(req, fi);
}

void opCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  int parentFd = inodeOf(req, parent).fd.get();
  NewOwner owner;
  if (int err = newOwner(req, parentFd, owner)) {
    fuse_reply_err(req, err);
    return;
  }
  // Only a file this call made gets the caller's owner. A name the container took meanwhile
  // is opened only if it is a regular file (a FIFO would block the server, a device must never
  // be opened by it), through its O_PATH fd like any open.
  UniqueFd fd(::openat(parentFd, name, (fi->flags & ~O_NOCTTY) | O_CREAT | O_EXCL | O_NOFOLLOW |
                                           O_CLOEXEC,
                       mode));
  bool created = static_cast<bool>(fd);
  if (!fd && errno == EEXIST && !(fi->flags & O_EXCL)) {
    UniqueFd path(::openat(parentFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (!path || statOf(path.get(), st) != 0) {
      fuse_reply_err(req, errno);
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      fuse_reply_err(req, S_ISDIR(st.st_mode) ? EISDIR : EACCES);
      return;
    }
    fd = UniqueFd(reopen(path.get(), fi->flags));
  }
  if (!fd) {
    fuse_reply_err(req, errno);
    return;
  }
  if (created) {
    if (int err = applyOwner(fd.get(), owner)) {
      ::unlinkat(parentFd, name, 0);
      fuse_reply_err(req, err);
      return;
    }
  }
  // The entry is the file we hold, not whatever the name means by now.
  fuse_entry_param e;
  UniqueFd path(::open(ProcPath(fd.get()).s, O_PATH | O_CLOEXEC));
  int err = path ? entryOf(req, std::move(path), e) : errno;
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  fi->fh = static_cast<uint64_t>(fd.release());
  fi->keep_cache = 0;
  if (fuse_reply_create(req, &e, fi) != 0) {
    ::close(static_cast<int>(fi->fh));
    forgetOne(viewOf(req), e.ino, 1);
  }
}

void opRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = static_cast<int>(fi->fh);
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void opWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  ssize_t n = ::pwrite(static_cast<int>(fi->fh), data, size, off);
  if (n < 0) fuse_reply_err(req, errno);
  else fuse_reply_write(req, static_cast<size_t>(n));
}

void opFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void opRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ::close(static_cast<int>(fi->fh));
  fuse_reply_err(req, 0);
}

void opFsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fd = static_cast<int>(fi->fh);
  fuse_reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

void opFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len,
                 fuse_file_info* fi) {
  fuse_reply_err(req, ::fallocate(static_cast<int>(fi->fh), mode, off, len) == 0 ? 0 : errno);
}

void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  int fd = ::openat(inodeOf(req, ino).fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  DIR* dp = ::fdopendir(fd);
  if (!dp) {
    int err = errno;
    ::close(fd);
    fuse_reply_err(req, err);
    return;
  }
  fi->fh = reinterpret_cast<uint64_t>(new Dir{dp, 0, nullptr});
  fuse_reply_open(req, fi);
}

// readdir, and readdirplus: each entry with its lookup (a reference the kernel now holds, as
// if it had looked the name up) and attributes, so a walk that stats every entry right after
// listing the directory (docker diff, export, cp) finds them in the kernel's cache. A name
// that vanished between the listing and its lookup is left out; "." and ".." carry no
// reference.
void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi,
             bool plus) {
  auto* d = reinterpret_cast<Dir*>(fi->fh);
  if (offset != d->offset) {
    ::seekdir(d->dp, offset);
    d->entry = nullptr;
    d->offset = offset;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  for (;;) {
    if (!d->entry) {
      errno = 0;
      d->entry = ::readdir(d->dp);
      if (!d->entry) {
        if (errno != 0 && used == 0) {
          fuse_reply_err(req, errno);
          return;
        }
        break;
      }
    }
    const char* name = d->entry->d_name;
    off_t next = d->entry->d_off;
    size_t n;
    if (!plus) {
      struct stat st {};
      st.st_ino = d->entry->d_ino;
      st.st_mode = static_cast<mode_t>(d->entry->d_type) << 12;
      n = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, next);
    } else {
      fuse_entry_param e{};
      bool dot = std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0;
      if (dot) {
        e.attr.st_ino = d->entry->d_ino;
        e.attr.st_mode = static_cast<mode_t>(d->entry->d_type) << 12;
      } else if (lookupEntry(req, ino, name, e) != 0) {
        d->entry = nullptr;  // gone meanwhile: skipped
        d->offset = next;
        continue;
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e, next);
      if (n > size - used && !dot) forgetOne(viewOf(req), e.ino, 1);  // not sent after all
    }
    if (n > size - used) break;
    used += n;
    d->entry = nullptr;
    d->offset = next;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  readdir(req, ino, size, offset, fi, false);
}

void opReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
                   fuse_file_info* fi) {
  readdir(req, ino, size, offset, fi, true);
}

void opReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* d = reinterpret_cast<Dir*>(fi->fh);
  ::closedir(d->dp);
  delete d;
  fuse_reply_err(req, 0);
}

void opFsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fd = ::dirfd(reinterpret_cast<Dir*>(fi->fh)->dp);
  fuse_reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

void opStatfs(fuse_req_t req, fuse_ino_t ino) {
  struct statvfs st;
  if (::fstatvfs(inodeOf(req, ino).fd.get(), &st) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_reply_statfs(req, &st);
}

// Xattrs go through the inode's magic link, which only reaches a directory or a file: a
// symlink's own xattrs are out of reach (there is no lgetxattr on an fd) and read as none.
void opGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  const Inode& in = inodeOf(req, ino);
  if (in.type == S_IFLNK) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  ProcPath path(in.fd.get());
  std::string value;
  for (;;) {
    ssize_t n = ::getxattr(path.s, name, nullptr, 0);
    if (n < 0) {
      fuse_reply_err(req, errno);
      return;
    }
    value.resize(static_cast<size_t>(n));
    n = ::getxattr(path.s, name, value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<size_t>(n));
      break;
    }
    if (errno != ERANGE) {
      fuse_reply_err(req, errno);
      return;
    }
  }
  std::optional<std::string> mapped = xattrToView(name, value, viewOf(req).shift);
  if (!mapped) fuse_reply_err(req, EOVERFLOW);
  else if (size == 0) fuse_reply_xattr(req, mapped->size());
  else if (size < mapped->size()) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, mapped->data(), mapped->size());
}

void opListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  const Inode& in = inodeOf(req, ino);
  if (in.type == S_IFLNK) {
    if (size == 0) fuse_reply_xattr(req, 0);
    else fuse_reply_buf(req, nullptr, 0);
    return;
  }
  std::vector<char> buf(size);
  ssize_t n = ::listxattr(ProcPath(in.fd.get()).s, size ? buf.data() : nullptr, size);
  if (n < 0) fuse_reply_err(req, errno);
  else if (size == 0) fuse_reply_xattr(req, static_cast<size_t>(n));
  else fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
}

void opSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  const Inode& in = inodeOf(req, ino);
  if (in.type == S_IFLNK) {
    fuse_reply_err(req, EPERM);
    return;
  }
  std::optional<std::string> mapped =
      xattrToHost(name, std::string_view(value, size), viewOf(req).shift);
  if (!mapped) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  int r = ::setxattr(ProcPath(in.fd.get()).s, name, mapped->data(), mapped->size(), flags);
  fuse_reply_err(req, r == 0 ? 0 : errno);
}

void opRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  const Inode& in = inodeOf(req, ino);
  if (in.type == S_IFLNK) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  fuse_reply_err(req, ::removexattr(ProcPath(in.fd.get()).s, name) == 0 ? 0 : errno);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o{};
  o.init = opInit;
  o.lookup = opLookup;
  o.forget = opForget;
  o.forget_multi = opForgetMulti;
  o.getattr = opGetattr;
  o.setattr = opSetattr;
  o.readlink = opReadlink;
  o.mknod = opMknod;
  o.mkdir = opMkdir;
  o.symlink = opSymlink;
  o.link = opLink;
  o.unlink = opUnlink;
  o.rmdir = opRmdir;
  o.rename = opRename;
  o.open = opOpen;
  o.create = opCreate;
  o.read = opRead;
  o.write = opWrite;
  o.flush = opFlush;
  o.release = opRelease;
  o.fsync = opFsync;
  o.fallocate = opFallocate;
  o.opendir = opOpendir;
  o.readdir = opReaddir;
  o.readdirplus = opReaddirplus;
  o.releasedir = opReleasedir;
  o.fsyncdir = opFsyncdir;
  o.statfs = opStatfs;
  o.getxattr = opGetxattr;
  o.listxattr = opListxattr;
  o.setxattr = opSetxattr;
  o.removexattr = opRemovexattr;
  return o;
}();

// ---- the loop ----

// Files the container deleted while the kernel still holds their inodes (a name the engine
// looked up once stays in its dentry cache until memory is short): their fds go, or the
// blocks of a deleted file would stay allocated as long as the view lives.
void sweepDeleted(View& v) {
  for (auto it = v.byKey.begin(); it != v.byKey.end();) {
    Inode* in = it->second;
    struct stat st;
    if (statOf(in->fd.get(), st) == 0 && st.st_nlink > 0) {
      ++it;
      continue;
    }
    in->fd.reset();  // later requests on it fail (EBADF) until the kernel forgets it
    it = v.byKey.erase(it);
  }
}

// libfuse's single-threaded loop, with a sweep every kSweepSeconds when there are inodes.
constexpr int kSweepSeconds = 5;
int serveLoop(fuse_session* se, View& view) {
  fuse_buf buf{};
  struct pollfd p = {fuse_session_fd(se), POLLIN, 0};
  auto nextSweep = std::chrono::steady_clock::now() + std::chrono::seconds(kSweepSeconds);
  int res = 0;
  while (!fuse_session_exited(se)) {
    int r = ::poll(&p, 1, kSweepSeconds * 1000);
    if (r < 0 && errno != EINTR) {
      res = -errno;
      break;
    }
    if (auto now = std::chrono::steady_clock::now(); now >= nextSweep) {
      if (!view.byKey.empty()) sweepDeleted(view);
      nextSweep = now + std::chrono::seconds(kSweepSeconds);
    }
    if (r <= 0) continue;
    res = fuse_session_receive_buf(se, &buf);
    if (res == -EINTR) continue;
    if (res <= 0) break;  // 0: unmounted
    fuse_session_process_buf(se, &buf);
  }
  std::free(buf.mem);
  return res < 0 ? res : 0;
}

}  // namespace

int serveIdView(int fuseFd, int root, const IdShift& shift) {
  ::umask(0);  // the kernel applied the caller's umask to every mode it sends
  // One O_PATH fd per inode the kernel holds: `docker export` walks the whole tree.
  rlimit lim;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  View view;
  view.shift = shift;
  view.root.fd = UniqueFd(::openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st;
  if (!view.root.fd || statOf(view.root.fd.get(), st) != 0) {
    std::fprintf(stderr, "sysvisor idview: the root: %s\n", std::strerror(errno));
    return 1;
  }
  view.root.dev = st.st_dev;
  view.root.ino = st.st_ino;
  view.root.type = S_IFDIR;
  view.root.nlookup = 2;
  char arg0[] = "sysvisor-idview";
  char* argv[] = {arg0, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  fuse_session* se = fuse_session_new(&args, &kOps, sizeof kOps, &view);
  fuse_opt_free_args(&args);  // fuse_session_new may have added to them
  if (!se) return 1;
  char mountpoint[32];
  std::snprintf(mountpoint, sizeof mountpoint, "/dev/fd/%d", fuseFd);
  int rc = 1;
  // No fuse_session_unmount after: our mountpoint is an fd's name, and libfuse would try to
  // unmount that (and run fusermount3).
  if (fuse_session_mount(se, mountpoint) == 0) rc = serveLoop(se, view) < 0 ? 1 : 0;
  fuse_session_destroy(se);
  return rc;
}

}  // namespace sv::fs
