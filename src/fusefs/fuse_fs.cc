#define FUSE_USE_VERSION 312
#include "fusefs/fuse_fs.h"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>

#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "fusefs/text_scan.h"

namespace sv::fs {
namespace {

constexpr double kTimeout = 1.0;  // seconds the kernel may cache entries and attributes
constexpr std::string_view kProcSys = "/proc/sys";
constexpr off_t kReportedSize = 1 << 20;  // the size stat shows for emulated files

FuseFs& fsOf(fuse_req_t req) { return *static_cast<FuseFs*>(fuse_req_userdata(req)); }
pid_t requester(fuse_req_t req) { return fuse_req_ctx(req)->pid; }

int64_t monotonicSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The renderers' inputs for one open: each host file read at most once, only when asked.
class LiveInputs : public RenderInputs {
 public:
  LiveInputs(const Container& c, FileCache& hostFiles)
      : c_(c),
        hostFiles_(hostFiles),
        info_{c.data().id, c.data().startTicks},
        files_([&c](Hierarchy h, std::string_view name) { return c.cgroupFile(h, name); }) {}
  std::string_view host(HostFile f) const override {
    auto& slot = host_[static_cast<size_t>(f)];
    if (!slot) {
      slot = hostFiles_.read(AT_FDCWD, hostPath(f)).value_or("");
    }
    return *slot;
  }
  const CgroupFiles& cgroupFiles() const override { return files_; }
  const ContainerInfo& container() const override { return info_; }
  std::optional<std::string> stored(std::string_view key) const override {
    return c_.sysctl(key);
  }
  LoadAvg load() const override {
    LoadState& ls = c_.load();
    {
      std::lock_guard lock(ls.mu);
      ls.lastRead = monotonicSeconds();
      if (ls.sampled) return {ls.avg[0], ls.avg[1], ls.avg[2], ls.running, ls.total, ls.lastPid};
    }
    sampleLoad(c_);
    std::lock_guard lock(ls.mu);
    return {ls.avg[0], ls.avg[1], ls.avg[2], ls.running, ls.total, ls.lastPid};
  }

 private:
  const Container& c_;
  FileCache& hostFiles_;
  ContainerInfo info_;
  CgroupFiles files_;
  mutable std::array<std::optional<std::string>, 10> host_;
};

// What a node is, resolved against the table (throws SysError ENOENT for what is gone).
struct Target {
  std::shared_ptr<Container> c;  // null: the mount's root
  std::string path;              // the container's view; "/" is its directory
  const Entry* entry = nullptr;  // the registry entry (the /proc/sys entry for its subtree)
  std::string rest;              // below /proc/sys
  bool procSys = false;
  mode_t mode = 0;
};

// needMode: the real mode of a /proc/sys entry is asked of the kernel (a stat in the
// requester's namespaces); open, read and write do without it (only files are opened).
Target resolve(FuseFs& fs, const std::string& cid, std::string path, pid_t pid,
               bool needMode = true) {
  Target t;
  t.c = fs.table.find(cid);
  if (!t.c) throwSysError(ENOENT, "lookup", cid);
  t.path = std::move(path);
  if (t.path == "/") {
    t.mode = S_IFDIR | 0555;
    return t;
  }
  Lookup l = fs.registry.lookup(t.path);
  switch (l.kind) {
    case Lookup::kNone:
      throwSysError(ENOENT, "lookup", t.path);
    case Lookup::kImplicit:
      t.mode = kImplicitDirMode;
      return t;
    case Lookup::kEntry:
      t.entry = l.entry;
      if (l.entry->path == kProcSys) {
        t.procSys = true;
        t.rest = std::string(l.rest);
        t.mode = t.rest.empty() ? l.entry->mode
                 : needMode     ? fs.procSys.stat(t.rest, pid)
                                : S_IFREG | 0644;
      } else {
        t.mode = l.entry->mode;
      }
      return t;
  }
  return t;
}

Target resolveNode(FuseFs& fs, fuse_ino_t ino, pid_t pid, bool needMode = true) {
  auto key = fs.nodes.get(ino);
  if (!key) throwSysError(ESTALE, "node", std::to_string(ino));
  return resolve(fs, key->cid, std::move(key->path), pid, needMode);
}

struct stat attrOf(fuse_ino_t ino, const Target& t) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = t.mode;
  st.st_nlink = S_ISDIR(t.mode) ? 2 : 1;
  if (t.c) {
    // Owned by the container's root, so it is root inside, never nobody.
    st.st_uid = t.c->data().uidBase;
    st.st_gid = t.c->data().gidBase;
    int64_t ns = t.c->data().created;
    st.st_mtim = st.st_ctim = st.st_atim = {ns / 1000000000, ns % 1000000000};
  }
  st.st_blksize = 4096;
  // Not 0 like procfs: sendfile and splice (busybox cat, for one) read FUSE files through the
  // page cache up to i_size, so size 0 reads as empty. The first short read shrinks the
  // kernel's i_size to the text's length; each open grows it back (see opOpen).
  if (S_ISREG(t.mode)) st.st_size = kReportedSize;
  return st;
}

struct stat rootAttr() {
  struct stat st {};
  st.st_ino = kRootNode;
  st.st_mode = S_IFDIR | 0700;  // host root only: the subtrees reach containers by bind mounts
  st.st_nlink = 2;
  return st;
}

// /proc/sys and the entries with a write function take writes; the rest is read-only.
bool writable(const Target& t) { return t.procSys || (t.entry && t.entry->write); }

// SysError → its errno, anything else → EIO and a log line: the FUSE boundary.
template <typename F>
void guarded(fuse_req_t req, const char* op, F&& f) {
  try {
    f();
  } catch (const SysError& e) {
    fuse_reply_err(req, e.err());
  } catch (const std::exception& e) {
    log::error("{}: {}", op, e.what());
    fuse_reply_err(req, EIO);
  }
}

std::string renderFile(FuseFs& fs, const Target& t, pid_t pid) {
  if (t.procSys) return fs.procSys.read(*t.c, t.rest, pid);
  if (!t.entry || !t.entry->render) throwSysError(EIO, "render", t.path);
  LiveInputs in(*t.c, fs.hostFiles);
  return t.entry->render(in);
}

// RELEASE is a background request, and the kernel lets only max_background of those (12 by
// default) wait in the queue with the openers' OPENs and READs, first come first served: with
// more readers than that, opens outpace releases, and the handles waiting for theirs (each
// with its rendered text) pile up for as long as the load lasts (50 containers reading /proc
// in a loop: +400 kB RSS a second, never given back). Room for far more than our workers can
// have in flight keeps the backlog at what is queued at one moment.
constexpr unsigned kMaxBackground = 1024;

void opInit(void*, fuse_conn_info* conn) {
  // O_TRUNC arrives with open instead of a separate setattr (`echo 1 > /proc/sys/...`).
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->max_background = kMaxBackground;
  conn->congestion_threshold = kMaxBackground * 3 / 4;
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  FuseFs& fs = fsOf(req);
  guarded(req, "lookup", [&] {
    std::string cid, path;
    if (parent == kRootNode) {
      cid = name;
      path = "/";
    } else {
      auto key = fs.nodes.get(parent);
      if (!key) throwSysError(ESTALE, "lookup", name);
      cid = std::move(key->cid);
      path = key->path == "/" ? std::string("/") + name : key->path + "/" + name;
    }
    Target t = resolve(fs, cid, path, requester(req));
    fuse_entry_param e{};
    e.ino = fs.nodes.ref(cid, path);
    e.attr = attrOf(e.ino, t);
    e.attr_timeout = e.entry_timeout = kTimeout;
    fuse_reply_entry(req, &e);
  });
}

void opForget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  fsOf(req).nodes.forget(ino, n);
  fuse_reply_none(req);
}

void opForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) fsOf(req).nodes.forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  FuseFs& fs = fsOf(req);
  guarded(req, "getattr", [&] {
    if (ino == kRootNode) {
      struct stat st = rootAttr();
      fuse_reply_attr(req, &st, kTimeout);
      return;
    }
    Target t = resolveNode(fs, ino, requester(req));
    struct stat st = attrOf(ino, t);
    fuse_reply_attr(req, &st, kTimeout);
  });
}

void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int toSet, fuse_file_info*) {
  FuseFs& fs = fsOf(req);
  guarded(req, "setattr", [&] {
    Target t = resolveNode(fs, ino, requester(req));
    // Truncation before a write (a shell's `>`) is how sysctls are set; it changes nothing
    // here, like on procfs. Owners and modes stay what the container's view says.
    constexpr int kAllowed = FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                             FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
    if ((toSet & ~kAllowed) != 0) throwSysError(EPERM, "setattr", t.path);
    if ((toSet & FUSE_SET_ATTR_SIZE) && !writable(t)) throwSysError(EACCES, "truncate", t.path);
    struct stat st = attrOf(ino, t);
    fuse_reply_attr(req, &st, kTimeout);
  });
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseFs& fs = fsOf(req);
  guarded(req, "open", [&] {
    pid_t pid = requester(req);
    Target t = resolveNode(fs, ino, pid, false);
    if (S_ISDIR(t.mode)) throwSysError(EISDIR, "open", t.path);
    int acc = fi->flags & O_ACCMODE;
    if (acc != O_RDONLY && !writable(t)) throwSysError(EACCES, "open", t.path);
    auto h = std::make_unique<FuseFs::Handle>();
    h->sysctl = t.procSys;
    // Rendered once at open, so every read of this open sees one consistent text.
    if (acc != O_WRONLY) h->data = renderFile(fs, t, pid);
    h->cid = t.c->data().id;
    h->path = t.path;
    // A text longer than the one before must not be cut at the i_size a short read left: the
    // kernel grows i_size to the end of what is stored, so the last byte is stored (the page
    // cache itself is dropped again when the open completes, as keep_cache is off).
    if (!h->data.empty()) fs.growSize(ino, h->data);
    fi->fh = fs.addHandle(std::move(h));
    fi->direct_io = 1;  // read() always asks the daemon: the text changes from open to open
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
  });
}

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  FuseFs& fs = fsOf(req);
  guarded(req, "read", [&] {
    std::shared_ptr<FuseFs::Handle> h = fs.handle(fi->fh);
    std::string fresh;
    const std::string* data = h ? &h->data : nullptr;
    if (!data) {
      // An open from before a restart of the daemon: render again.
      fresh = renderFile(fs, resolveNode(fs, ino, requester(req), false), requester(req));
      data = &fresh;
    }
    size_t from = std::min(static_cast<size_t>(off), data->size());
    fuse_reply_buf(req, data->data() + from, std::min(size, data->size() - from));
  });
}

void opWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t,
             fuse_file_info*) {
  FuseFs& fs = fsOf(req);
  guarded(req, "write", [&] {
    pid_t pid = requester(req);
    Target t = resolveNode(fs, ino, pid, false);
    if (!writable(t)) throwSysError(EACCES, "write", t.path);
    std::string_view data(buf, size);
    // The key its value is kept under: the path below /proc/sys, or the entry's path.
    std::string key = t.procSys ? t.rest : t.path;
    bool changed = false;
    if (t.procSys) {
      changed = fs.procSys.write(*t.c, t.rest, data, pid);
    } else {
      std::string current = t.c->sysctl(key).value_or("");
      SysctlWrite w = t.entry->write(data, current);
      if (w.error) throwSysError(w.error, "write", t.path);
      t.c->setSysctl(key, std::move(w.value));
      changed = true;
    }
    if (changed) {
      log::info("container {}: {} = {}", t.c->data().id, key,
                text::trim(t.c->sysctl(key).value_or("")));
      fs.persist(*t.c);
    }
    fuse_reply_write(req, size);
  });
}

void opRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fsOf(req).dropHandle(fi->fh);
  fuse_reply_err(req, 0);
}

void opOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  FuseFs& fs = fsOf(req);
  guarded(req, "opendir", [&] {
    auto h = std::make_unique<FuseFs::Handle>();
    std::vector<SysEntry> entries;
    if (ino == kRootNode) {
      for (const auto& [id, c] : *fs.table.snapshot()) entries.push_back({id, S_IFDIR | 0555});
    } else {
      pid_t pid = requester(req);
      Target t = resolveNode(fs, ino, pid);
      if (!S_ISDIR(t.mode)) throwSysError(ENOTDIR, "opendir", t.path);
      if (t.procSys) {
        entries = fs.procSys.list(t.rest, pid);
      } else if (auto list = fs.registry.readdir(t.path)) {
        for (const DirEntry& d : *list) entries.push_back({std::string(d.name), d.mode});
      }
    }
    // The listing travels in the handle's data as "mode name\n" lines.
    for (const SysEntry& e : entries) h->data += fmt::format("{:o} {}\n", e.mode, e.name);
    fi->fh = fs.addHandle(std::move(h));
    fuse_reply_open(req, fi);
  });
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  FuseFs& fs = fsOf(req);
  guarded(req, "readdir", [&] {
    std::shared_ptr<FuseFs::Handle> h = fs.handle(fi->fh);
    if (!h) throwSysError(EBADF, "readdir", std::to_string(ino));
    std::vector<char> buf(size);
    size_t used = 0;
    off_t index = 0;
    auto add = [&](std::string_view name, mode_t mode) {
      if (index++ < off) return true;
      struct stat st {};
      st.st_mode = mode;
      // Not the node id (that comes with lookup), but never 0: tools skip entries of inode 0.
      st.st_ino = std::hash<std::string_view>{}(name) | 1;
      std::string n(name);
      size_t need = fuse_add_direntry(req, buf.data() + used, size - used, n.c_str(), &st, index);
      if (need > size - used) return false;
      used += need;
      return true;
    };
    bool more = add(".", S_IFDIR) && add("..", S_IFDIR);
    text::Lines lines(h->data);
    while (more) {
      auto line = lines.next();
      if (!line) break;
      auto sp = line->find(' ');
      if (sp == std::string_view::npos) continue;
      unsigned mode = 0;
      std::from_chars(line->data(), line->data() + sp, mode, 8);
      more = add(line->substr(sp + 1), mode);
    }
    fuse_reply_buf(req, buf.data(), used);
  });
}

void opReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fsOf(req).dropHandle(fi->fh);
  fuse_reply_err(req, 0);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o{};
  o.init = opInit;
  o.lookup = opLookup;
  o.forget = opForget;
  o.forget_multi = opForgetMulti;
  o.getattr = opGetattr;
  o.setattr = opSetattr;
  o.open = opOpen;
  o.read = opRead;
  o.write = opWrite;
  o.release = opRelease;
  o.opendir = opOpendir;
  o.readdir = opReaddir;
  o.releasedir = opReleasedir;
  return o;
}();

}  // namespace

FuseFs::FuseFs(ContainerTable& t, NodeTable& n, std::string self,
               std::function<void(const Container&)> p)
    : table(t),
      nodes(n),
      procSys(std::move(self)),
      registry(emulatedEntries()),
      persist(std::move(p)),
      // Handles of an earlier daemon (opens that survive a restart) must not collide with ours.
      nextFh_(static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())
              << 8) {}

const fuse_lowlevel_ops& FuseFs::ops() { return kOps; }

uint64_t FuseFs::addHandle(std::unique_ptr<Handle> h) {
  std::lock_guard lock(mu_);
  uint64_t fh = ++nextFh_;
  handles_.emplace(fh, std::shared_ptr<Handle>(std::move(h)));
  return fh;
}

std::shared_ptr<FuseFs::Handle> FuseFs::handle(uint64_t fh) {
  std::lock_guard lock(mu_);
  auto it = handles_.find(fh);
  return it == handles_.end() ? nullptr : it->second;
}

void FuseFs::dropHandle(uint64_t fh) {
  std::lock_guard lock(mu_);
  handles_.erase(fh);
}

void FuseFs::growSize(uint64_t ino, const std::string& data) {
  fuse_session* se = se_.load();
  if (!se) return;
  fuse_bufvec buf = FUSE_BUFVEC_INIT(1);
  buf.buf[0].mem = const_cast<char*>(data.data() + data.size() - 1);
  int rc = fuse_lowlevel_notify_store(se, ino, static_cast<off_t>(data.size() - 1), &buf,
                                      FUSE_BUF_SPLICE_NONBLOCK);
  if (rc != 0 && rc != -ENOENT) log::debug("notify_store {}: {}", ino, rc);
}

void FuseFs::invalidateContainer(const std::string& id) {
  if (fuse_session* se = se_.load())
    fuse_lowlevel_notify_inval_entry(se, kRootNode, id.c_str(), id.size());
}

void FuseFs::sampleLoads() {
  int64_t now = monotonicSeconds();
  for (const auto& [id, c] : *table.snapshot()) {
    {
      std::lock_guard lock(c->load().mu);
      if (c->load().lastRead == 0 || now - c->load().lastRead > 600) continue;
    }
    sampleLoad(*c);
  }
}

void sampleLoad(const Container& c) {
  unsigned running = 0, total = 0;
  int lastPid = 0;
  for (pid_t tid : c.tasks()) {
    std::optional<std::string> status;
    try {
      status = readFileIfExists(fmt::format("/proc/{}/status", tid));
    } catch (const std::exception&) {
    }
    if (!status) continue;
    ++total;
    text::Lines lines(*status);
    while (auto line = lines.next()) {
      if (line->starts_with("State:")) {
        auto s = text::trim(line->substr(6));
        if (!s.empty() && (s[0] == 'R' || s[0] == 'D')) ++running;
      } else if (line->starts_with("NSpid:")) {
        text::Words w(line->substr(6));
        std::optional<uint64_t> last;
        while (auto x = w.next()) last = text::toU64(*x);
        if (last && static_cast<int>(*last) > lastPid) lastPid = static_cast<int>(*last);
      }
    }
  }
  // The kernel's fixed-point decay every 5 s, in floating point: exp(-5/60), -5/300, -5/900.
  static const double kDecay[3] = {std::exp(-5.0 / 60), std::exp(-5.0 / 300),
                                   std::exp(-5.0 / 900)};
  LoadState& ls = c.load();
  std::lock_guard lock(ls.mu);
  for (int i = 0; i < 3; ++i) ls.avg[i] = ls.avg[i] * kDecay[i] + running * (1 - kDecay[i]);
  ls.running = running;
  ls.total = total;
  ls.lastPid = lastPid;
  ls.sampled = true;
}

}  // namespace sv::fs
