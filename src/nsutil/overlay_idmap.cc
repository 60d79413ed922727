#include "nsutil/overlay_idmap.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/mount_api.h"

namespace sv::ns {

namespace {

// Overlay refuses more lower layers than this (OVL_MAX_STACK).
constexpr size_t kMaxLowers = 500;

// ---- mountinfo parsing ----

// mountinfo escapes ' ', '\t', '\n', '\\' (and ',' in option values) as \ooo.
std::string unescapeOctal(std::string_view s) {
  auto isOct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && isOct(s[i + 1]) && isOct(s[i + 2]) && isOct(s[i + 3])) {
      out +=
          static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// Overlay's own escaping in the legacy lowerdir=/upperdir=/workdir= strings: a backslash makes
// the next character literal (how "\:" and "\," get into a layer path).
std::string unescapeOverlay(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

// lowerdir=a:b:c, with escaped colons kept inside a layer. "::" starts overlay's data-only
// layers, which lowerdir+ cannot express: refused.
std::vector<std::string> splitLowerdir(std::string_view s) {
  std::vector<std::string> layers;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      cur += s[++i];
    } else if (s[i] == ':') {
      if (i + 1 < s.size() && s[i + 1] == ':')
        throw UserError(fmt::format(
            "overlay lowerdir '{}' has data-only layers ('::'), which sysvisor cannot idmap", s));
      layers.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  layers.push_back(std::move(cur));
  return layers;
}

std::string resolveAgainst(std::string path, const std::string& base) {
  if (path.empty()) throw UserError("overlay mount with an empty layer path");
  if (path.front() == '/') return path;
  if (base.empty())
    throw UserError(fmt::format(
        "overlay layer '{}' is relative and no directory to resolve it against was given", path));
  return base.back() == '/' ? base + path : base + "/" + path;
}

// Names the kernel prints for a layer given by fd: the string we passed ("/proc/self/fd/N",
// also /proc/<pid>/fd/N, /proc/thread-self/fd/N), or "/" (d_path of a detached mount when the
// fd went in through FSCONFIG_SET_FD).
bool isFdLayerName(std::string_view name) {
  if (name == "/") return true;
  if (!name.starts_with("/proc/")) return false;
  size_t fd = name.find("/fd/");
  if (fd == std::string_view::npos) return false;
  std::string_view num = name.substr(fd + 4);
  return !num.empty() && num.find_first_not_of("0123456789") == std::string_view::npos;
}

unsigned parseMountAttrs(std::string_view opts) {
  unsigned attrs = 0;
  bool atimeGiven = false;
  for (std::string_view o : split(opts, ',')) {
    if (o == "ro")
      attrs |= MOUNT_ATTR_RDONLY;
    else if (o == "nosuid")
      attrs |= MOUNT_ATTR_NOSUID;
    else if (o == "nodev")
      attrs |= MOUNT_ATTR_NODEV;
    else if (o == "noexec")
      attrs |= MOUNT_ATTR_NOEXEC;
    else if (o == "nodiratime")
      attrs |= MOUNT_ATTR_NODIRATIME;
    else if (o == "nosymfollow")
      attrs |= MOUNT_ATTR_NOSYMFOLLOW;
    else if (o == "noatime")
      attrs |= MOUNT_ATTR_NOATIME, atimeGiven = true;
    else if (o == "relatime")
      attrs |= MOUNT_ATTR_RELATIME, atimeGiven = true;
  }
  // mountinfo says nothing for strictatime, while fsmount defaults to relatime.
  if (!atimeGiven) attrs |= MOUNT_ATTR_STRICTATIME;
  return attrs;
}

struct MountinfoLine {
  std::string_view line;
  int id = 0, parent = 0;
  std::string mountpoint;
  std::string_view mountOpts, fstype, source, superOpts;
};

std::optional<MountinfoLine> parseLine(std::string_view line) {
  std::vector<std::string_view> f = split(line, ' ');
  size_t dash = 6;
  while (dash < f.size() && f[dash] != "-") ++dash;
  // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
  if (dash + 3 > f.size()) return std::nullopt;
  MountinfoLine m;
  m.line = line;
  if (std::from_chars(f[0].data(), f[0].data() + f[0].size(), m.id).ec != std::errc() ||
      std::from_chars(f[1].data(), f[1].data() + f[1].size(), m.parent).ec != std::errc())
    return std::nullopt;
  m.mountpoint = unescapeOctal(f[4]);
  m.mountOpts = f[5];
  m.fstype = f[dash + 1];
  m.source = f[dash + 2];
  m.superOpts = dash + 3 < f.size() ? f[dash + 3] : std::string_view();
  return m;
}

OverlayMount parseOverlay(const MountinfoLine& m, const std::string& relativeBase) {
  OverlayMount o;
  o.mountinfoLine = std::string(m.line);
  o.mountId = m.id;
  o.mountpoint = m.mountpoint;
  o.source = unescapeOctal(m.source);
  o.mountAttrs = parseMountAttrs(m.mountOpts);
  bool superRo = false;
  for (std::string_view opt : split(m.superOpts, ',')) {
    size_t eq = opt.find('=');
    std::string_view key = opt.substr(0, eq);
    std::string value = eq == std::string_view::npos ? "" : unescapeOctal(opt.substr(eq + 1));
    if (key == "lowerdir") {
      for (std::string& l : splitLowerdir(value))
        o.lowers.push_back(resolveAgainst(std::move(l), relativeBase));
    } else if (key == "lowerdir+") {
      // The new API's per-layer names are taken verbatim (no overlay escaping).
      if (isFdLayerName(value)) {
        o.lowersByFd = true;
        o.lowers.push_back(std::move(value));
      } else {
        o.lowers.push_back(resolveAgainst(std::move(value), relativeBase));
      }
    } else if (key == "datadir+") {
      throw UserError(fmt::format(
          "overlay at '{}' has data-only layers (datadir+), which sysvisor cannot idmap",
          o.mountpoint));
    } else if (key == "upperdir") {
      o.upper = resolveAgainst(unescapeOverlay(value), relativeBase);
    } else if (key == "workdir") {
      o.work = resolveAgainst(unescapeOverlay(value), relativeBase);
    } else if (opt == "rw" || opt.empty()) {
      continue;
    } else if (opt == "ro") {
      superRo = true;
    } else {
      o.otherOptions.push_back(eq == std::string_view::npos ? std::string(key)
                                                            : std::string(key) + "=" + value);
    }
  }
  if (superRo && !o.upper.empty()) o.otherOptions.insert(o.otherOptions.begin(), "ro");
  return o;
}

std::string trimSlash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// ---- building the idmapped overlay ----

long sysOpenTree(int dfd, const char* path, unsigned flags) {
  return ::syscall(SYS_open_tree, dfd, path, flags);
}

// A detached, non-recursive clone of a lower layer, idmapped through usernsFd. Lower layers
// have no submounts of their own, and classic overlay would not see them either.
UniqueFd idmappedLayer(const std::string& path, int usernsFd) {
  UniqueFd tree(SV_SYSCALL(
      static_cast<int>(sysOpenTree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)),
      "overlay lower layer '{}'", path));
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(usernsFd);
  SV_SYSCALL(::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr),
             "idmapping overlay lower layer '{}' (does its filesystem support idmapped mounts?)",
             path);
  return tree;
}

// upperdir= and workdir= strings go through overlay's unescaping (a backslash quotes the next
// character); lowerdir+ names do not.
std::string escapeOverlay(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '\\') out += '\\';
    out += c;
  }
  return out;
}

bool isVolatile(const OverlayMount& o) {
  for (const std::string& opt : o.otherOptions)
    if (opt == "volatile" || opt == "fsync=volatile") return true;
  return false;
}

// A volatile overlay leaves "<workdir>/work/incompat/volatile/dirty" behind, and the kernel
// refuses any later mount on that work dir until it is gone ("overlay with incompat feature
// 'volatile' cannot be mounted"). Our mount continues the same session over the same upper dir
// and recreates the marker. Why safe: the walk opens each component with O_NOFOLLOW under the
// work dir the engine created, and only an empty marker dir with its "dirty" file is removed.
void clearVolatileMarker(const std::string& work) {
  UniqueFd dir(SV_SYSCALL(::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
                          "overlay work dir '{}'", work));
  for (const char* name : {"work", "incompat"}) {
    auto fd = SV_SYSCALL_IF_EXISTS(
        ::openat(dir.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), "'{}'", work);
    if (!fd) return;
    dir = UniqueFd(*fd);
  }
  auto volatileDir = SV_SYSCALL_IF_EXISTS(
      ::openat(dir.get(), "volatile", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
      "'{}/work/incompat/volatile'", work);
  if (!volatileDir) return;
  UniqueFd marker(*volatileDir);
  SV_SYSCALL_IF_EXISTS(::unlinkat(marker.get(), "dirty", 0), "'{}/work/incompat/volatile/dirty'",
                       work);
  SV_SYSCALL_IF_EXISTS(::unlinkat(dir.get(), "volatile", AT_REMOVEDIR),
                       "'{}/work/incompat/volatile'", work);
}

// A detached overlay mount over the given lower layers (names for lowerdir+: idmapped clones as
// /proc/self/fd/N, or the engine's own paths).
UniqueFd buildOverlay(const OverlayMount& o, const std::vector<std::string>& lowerNames) {
  UniqueFd fs(SV_SYSCALL(static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)),
                         "overlay for '{}'", o.mountpoint));
  std::string what = fmt::format("building the overlay for '{}'", o.mountpoint);
  if (!o.source.empty()) fsconfig(fs.get(), FSCONFIG_SET_STRING, "source", o.source.c_str(), what);
  // /proc/self/fd/N names the detached idmapped clone; the kernel resolves it at this call and
  // keeps only the name for mountinfo (see OverlayMount::lowersByFd).
  for (size_t i = 0; i < lowerNames.size(); ++i)
    fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", lowerNames[i].c_str(),
             fmt::format("{} (lower layer '{}')", what, o.lowers[i]));
  if (!o.upper.empty()) {
    fsconfig(fs.get(), FSCONFIG_SET_STRING, "upperdir", escapeOverlay(o.upper).c_str(), what);
    fsconfig(fs.get(), FSCONFIG_SET_STRING, "workdir", escapeOverlay(o.work).c_str(), what);
  }
  for (const std::string& opt : o.otherOptions) {
    size_t eq = opt.find('=');
    if (eq == std::string::npos) {
      fsconfig(fs.get(), FSCONFIG_SET_FLAG, opt.c_str(), nullptr,
               fmt::format("{} (option '{}')", what, opt));
    } else {
      std::string key = opt.substr(0, eq), value = opt.substr(eq + 1);
      fsconfig(fs.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(),
               fmt::format("{} (option '{}')", what, opt));
    }
  }
  if (isVolatile(o) && !o.work.empty()) clearVolatileMarker(o.work);
  // The old overlay still holds the upper dir: the kernel logs "upperdir is in-use ... undefined
  // behavior" (harmless: nothing accesses the old mount before it is detached) with index=off,
  // and refuses with EBUSY under index=on, which then fails cleanly.
  fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, what,
           "its upper dir is in use; overlay's index=on allows one mount per upper dir");
  return UniqueFd(
      SV_SYSCALL(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, o.mountAttrs)),
                 "idmapped overlay for '{}'", o.mountpoint));
}

int topMountId(const std::string& path) {
  struct statx stx {};
  // DONT_SYNC: a FUSE mount whose server died (an id view) answers from its cache, not ENOTCONN.
  SV_SYSCALL(::statx(AT_FDCWD, path.c_str(),
                     AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC, STATX_MNT_ID,
                     &stx),
             "'{}'", path);
  return static_cast<int>(stx.stx_mnt_id);
}

// Puts the new mount where the old one was. Why safe: the mount id check makes sure we detach
// the mount we parsed and not one mounted since; the backup clone shares the old superblock, so
// if attaching the new mount fails the path gets the same overlay back instead of nothing.
}  // namespace

void replaceMount(const std::string& path, int mountId, int newMount) {
  if (int top = topMountId(path); top != mountId)
    throw UserError(fmt::format(
        "the mount on '{}' changed while sysvisor rebuilt it (mount id {} instead of {}); retry",
        path, top, mountId));
  UniqueFd backup(SV_SYSCALL(
      static_cast<int>(sysOpenTree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)),
      "backup clone of '{}'", path));
  SV_SYSCALL(::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW), "'{}'", path);
  if (::syscall(SYS_move_mount, newMount, "", AT_FDCWD, path.c_str(), MOVE_MOUNT_F_EMPTY_PATH) == 0)
    return;
  int err = errno;
  std::string restored = ::syscall(SYS_move_mount, backup.get(), "", AT_FDCWD, path.c_str(),
                                   MOVE_MOUNT_F_EMPTY_PATH) == 0
                             ? "the original mount is back in place"
                             : "the original mount could not be put back either";
  throwSysError(err, "move_mount", fmt::format("new mount onto '{}' ({})", path, restored));
}

namespace {

// The top of a stack of mounts on one path is the one no other mount there sits on (its id is
// nobody's parent). Listing order alone is not enough: a mount attached beneath
// (MOVE_MOUNT_BENEATH) is listed after the one above it. Among several candidates (an
// overmounted parent left an old, hidden mount on the same path) the newest listed wins.
std::optional<MountinfoLine> topMountLine(const std::string& mountinfo, const std::string& path) {
  std::string want = trimSlash(path);
  std::vector<MountinfoLine> here;
  for (std::string_view line : split(mountinfo, '\n')) {
    if (line.empty()) continue;
    std::optional<MountinfoLine> m = parseLine(line);
    if (m && m->mountpoint == want) here.push_back(std::move(*m));
  }
  const MountinfoLine* top = nullptr;
  for (const MountinfoLine& m : here) {
    bool covered = false;
    for (const MountinfoLine& other : here) covered |= other.parent == m.id && &other != &m;
    if (!covered) top = &m;
  }
  if (!top) return std::nullopt;
  return *top;
}

}  // namespace

std::optional<OverlayMount> findOverlayAt(const std::string& mountinfo, const std::string& path,
                                          const std::string& relativeBase) {
  std::optional<MountinfoLine> top = topMountLine(mountinfo, path);
  if (!top || top->fstype != "overlay") return std::nullopt;
  return parseOverlay(*top, relativeBase);
}

std::vector<TopMount> findMountsAt(const std::string& mountinfo, const std::string& path) {
  std::string want = trimSlash(path);
  std::vector<TopMount> out;
  for (std::string_view line : split(mountinfo, '\n')) {
    std::optional<MountinfoLine> m = line.empty() ? std::nullopt : parseLine(line);
    if (m && m->mountpoint == want)
      out.push_back({m->id, std::string(m->fstype), unescapeOctal(m->source)});
  }
  return out;
}

std::optional<OverlayMount> overlayOfLine(std::string_view line) {
  std::optional<MountinfoLine> m = parseLine(line);
  if (!m || m->fstype != "overlay") return std::nullopt;
  std::string base = m->mountpoint;
  for (int up = 0; up < 2; ++up) base.resize(std::max<size_t>(base.rfind('/'), 1));
  return parseOverlay(*m, base);
}

std::optional<TopMount> findTopMountAt(const std::string& mountinfo, const std::string& path) {
  std::optional<MountinfoLine> top = topMountLine(mountinfo, path);
  if (!top) return std::nullopt;
  return TopMount{top->id, std::string(top->fstype), unescapeOctal(top->source)};
}

UniqueFd buildIdmappedOverlay(const OverlayMount& o, int usernsFd) {
  if (o.lowersByFd)
    throw UserError(
        fmt::format("the overlay on '{}' already has idmapped lower layers (they were given by fd)",
                    o.mountpoint));
  if (o.lowers.empty() || o.lowers.size() > kMaxLowers)
    throw UserError(fmt::format("the overlay on '{}' has {} lower layers (1 to {} supported)",
                                o.mountpoint, o.lowers.size(), kMaxLowers));
  if (o.upper.empty() != o.work.empty())
    throw UserError(
        fmt::format("the overlay on '{}' has an upper dir without a work dir", o.mountpoint));
  // Why safe: the layer paths come from the host's mountinfo, written by the container engine
  // (root-owned directories such as /var/lib/docker), not from the image or the bundle. Every
  // clone and the new overlay are detached until the caller attaches it, so any failure
  // leaves nothing behind but fds that close.
  std::vector<UniqueFd> layers;
  layers.reserve(o.lowers.size());
  std::vector<std::string> names;
  for (const std::string& lower : o.lowers) {
    layers.push_back(idmappedLayer(lower, usernsFd));
    names.push_back(fmt::format("/proc/self/fd/{}", layers.back().get()));
  }
  return buildOverlay(o, names);
}

void remountOverlayIdmapped(const OverlayMount& o, int usernsFd) {
  UniqueFd mnt = buildIdmappedOverlay(o, usernsFd);
  replaceMount(o.mountpoint, o.mountId, mnt.get());
}

void restoreOverlay(const OverlayMount& o, int replacingMountId) {
  if (o.lowersByFd || o.lowers.empty() || o.lowers.size() > kMaxLowers)
    throw UserError(fmt::format("the overlay recorded for '{}' cannot be rebuilt", o.mountpoint));
  // By path, as the engine gave them: mountinfo then names them as the engine's mount did, and
  // the next create finds an engine overlay there, not one of ours.
  UniqueFd mnt = buildOverlay(o, o.lowers);
  replaceMount(o.mountpoint, replacingMountId, mnt.get());
}

}  // namespace sv::ns
