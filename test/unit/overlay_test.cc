// Docker's rootfs with idmapped lower layers (nsutil/overlay_idmap.h) and shifting the upper
// dir's ids (nsutil/id_shift.h). The parser runs on mountinfo fixtures; the [root] cases build
// real overlays and trees in a private temp dir and unmount everything they mount.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "base/unique_fd.h"
#include "nsutil/id_shift.h"
#include "nsutil/idmap.h"
#include "nsutil/overlay_idmap.h"
#include "test_util.h"

using sv::UniqueFd;
using sv::ns::findOverlayAt;
using sv::ns::OverlayMount;
using sv::ns::overlayOfLine;
using sv::ns::remountOverlayIdmapped;
using sv::ns::shiftIds;
using sv::test::errorOf;
using sv::test::TempDir;

namespace {

constexpr uint32_t kBase = 231072;
const std::string kMap = "0 231072 65536\n";
const std::string kId = "9f1c0d3e5b7a2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f708192a3b4c5d6e7f809";
const std::string kHome = "/var/lib/docker/overlay2";

// ---------------------------------------------------------------------------------------------
// findOverlayAt on mountinfo text

TEST_CASE("findOverlayAt: Docker 20.10's overlay with absolute l/ links", "[overlay]") {
  std::string merged = kHome + "/" + kId + "/merged";
  std::string mi = fmt::format(
      "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
      "1283 22 0:130 / {0}/{1}/merged rw,relatime shared:640 - overlay overlay "
      "rw,lowerdir={0}/l/3VBOJ2RZ5YQJ2I7S6N7LSL6KHM:{0}/l/QWJ6ZPA5RKEXLWCQ4RDPKSUFSD:"
      "{0}/l/PTC5NNSEAGIWXZ6P5AJKVRXQ2Y,upperdir={0}/{1}/diff,workdir={0}/{1}/work,"
      "index=off,xino=off\n"
      "1301 1283 0:5 / /run/docker/netns/4ac2 rw shared:641 - nsfs nsfs rw\n",
      kHome, kId);
  for (std::string path : {merged, merged + "/"}) {
    INFO(path);
    std::optional<OverlayMount> o = findOverlayAt(mi, path, kHome);
    REQUIRE(o);
    CHECK(o->mountId == 1283);
    CHECK(o->mountpoint == merged);
    CHECK(o->source == "overlay");
    CHECK(o->lowers == std::vector<std::string>{kHome + "/l/3VBOJ2RZ5YQJ2I7S6N7LSL6KHM",
                                                kHome + "/l/QWJ6ZPA5RKEXLWCQ4RDPKSUFSD",
                                                kHome + "/l/PTC5NNSEAGIWXZ6P5AJKVRXQ2Y"});
    CHECK(o->upper == kHome + "/" + kId + "/diff");
    CHECK(o->work == kHome + "/" + kId + "/work");
    CHECK(o->otherOptions == std::vector<std::string>{"index=off", "xino=off"});
    CHECK(o->mountAttrs == MOUNT_ATTR_RELATIME);
    CHECK_FALSE(o->lowersByFd);
  }
}

TEST_CASE("findOverlayAt: relative layers (Docker past ~70 layers) resolve against the base",
          "[overlay]") {
  std::string merged = kHome + "/" + kId + "/merged";
  std::string mi = "1283 22 0:130 / " + merged + " rw,relatime - overlay overlay rw,lowerdir=" +
                   "l/AAAA:l/BBBB:l/CCCC,upperdir=" + kId + "/diff,workdir=" + kId + "/work\n";
  std::optional<OverlayMount> o = findOverlayAt(mi, merged, kHome);
  REQUIRE(o);
  CHECK(o->lowers ==
        std::vector<std::string>{kHome + "/l/AAAA", kHome + "/l/BBBB", kHome + "/l/CCCC"});
  CHECK(o->upper == kHome + "/" + kId + "/diff");
  CHECK(o->work == kHome + "/" + kId + "/work");
  CHECK(findOverlayAt(mi, merged, kHome + "/")->lowers[0] == kHome + "/l/AAAA");
  CHECK_THAT(errorOf([&] { findOverlayAt(mi, merged, ""); }),
             Catch::Contains("'l/AAAA' is relative"));
}

TEST_CASE("overlayOfLine: a recorded line read back, relative layers against the home",
          "[overlay]") {
  std::string merged = kHome + "/" + kId + "/merged";
  std::string line = "1283 22 0:130 / " + merged + " rw,relatime - overlay overlay rw,lowerdir=" +
                     "l/AAAA:l/BBBB,upperdir=" + kId + "/diff,workdir=" + kId + "/work";
  std::optional<OverlayMount> o = overlayOfLine(line);
  REQUIRE(o);
  CHECK(o->mountpoint == merged);
  CHECK(o->mountinfoLine == line);
  CHECK(o->lowers == std::vector<std::string>{kHome + "/l/AAAA", kHome + "/l/BBBB"});
  CHECK(o->upper == kHome + "/" + kId + "/diff");
  CHECK_FALSE(overlayOfLine("64 27 0:55 / " + merged + " rw - fuse sysvisor-idview rw"));
  CHECK_FALSE(overlayOfLine("garbage"));
}

TEST_CASE("findOverlayAt: mountinfo's octal escapes and overlay's escaped ':' and ','",
          "[overlay]") {
  // As the kernel prints layers "/x/a:b", "/x/c,d", "/x/s p", "/x/x\y" given to mount(2) as
  // "/x/a\:b:/x/c\,d:/x/s p:/x/x\\y" (checked on 6.18).
  std::string mi =
      "70 22 0:40 / /tmp/my\\040dir/merged ro,nosuid,nodev,noexec,noatime - overlay my\\040src "
      "rw,lowerdir=/x/a\\134:b:/x/c\\134\\054d:/x/s\\040p:/x/x\\134\\134y,"
      "upperdir=/x/up\\040per,workdir=/x/w\\134\\134k,redirect_dir=on,fsync=volatile\n";
  std::optional<OverlayMount> o = findOverlayAt(mi, "/tmp/my dir/merged", "");
  REQUIRE(o);
  CHECK(o->source == "my src");
  CHECK(o->lowers == std::vector<std::string>{"/x/a:b", "/x/c,d", "/x/s p", "/x/x\\y"});
  CHECK(o->upper == "/x/up per");
  CHECK(o->work == "/x/w\\k");
  CHECK(o->otherOptions == std::vector<std::string>{"redirect_dir=on", "fsync=volatile"});
  CHECK(o->mountAttrs == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                          MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOATIME));
  CHECK_FALSE(findOverlayAt(mi, "/tmp/my\\040dir/merged", ""));
}

TEST_CASE("findOverlayAt: only the top mount on the path counts", "[overlay]") {
  auto overlay = [](int id, int parent) {
    return fmt::format(
        "{} {} 0:40 / /m rw,relatime - overlay overlay "
        "rw,lowerdir=/l,upperdir=/u,workdir=/w\n",
        id, parent);
  };
  auto tmpfs = [](int id, int parent) {
    return fmt::format("{} {} 0:41 / /m rw,relatime - tmpfs tmpfs rw\n", id, parent);
  };
  SECTION("a tmpfs over the overlay") {
    CHECK_FALSE(findOverlayAt(overlay(100, 22) + tmpfs(101, 100), "/m", ""));
  }
  SECTION("a tmpfs listed first but on top (attached beneath)") {
    CHECK_FALSE(findOverlayAt(tmpfs(101, 100) + overlay(100, 22), "/m", ""));
  }
  SECTION("the overlay over a tmpfs") {
    std::optional<OverlayMount> o = findOverlayAt(tmpfs(101, 22) + overlay(100, 101), "/m", "");
    REQUIRE(o);
    CHECK(o->mountId == 100);
  }
  SECTION("a mount of another program is not an overlay") {
    std::string mi = "100 22 0:40 / /m rw - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=0\n";
    CHECK_FALSE(findOverlayAt(mi, "/m", ""));
  }
}

TEST_CASE("findOverlayAt: no mount exactly at the path", "[overlay]") {
  std::string mi =
      "100 22 0:40 / /m rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
      "101 22 0:41 / /m/sub rw - tmpfs tmpfs rw\n";
  CHECK_FALSE(findOverlayAt(mi, "/m2", ""));
  CHECK_FALSE(findOverlayAt(mi, "/", ""));
  CHECK_FALSE(findOverlayAt(mi, "/m/sub", ""));
  CHECK_FALSE(findOverlayAt(mi, "/m/other", ""));
  CHECK_FALSE(findOverlayAt("", "/m", ""));
}

TEST_CASE("findOverlayAt: a read-only overlay has no upper dir", "[overlay]") {
  std::string mi =
      "100 22 0:40 / /m rw,relatime - overlay overlay ro,lowerdir=/l1:/l2,"
      "redirect_dir=on\n";
  std::optional<OverlayMount> o = findOverlayAt(mi, "/m", "");
  REQUIRE(o);
  CHECK(o->lowers == std::vector<std::string>{"/l1", "/l2"});
  CHECK(o->upper.empty());
  CHECK(o->work.empty());
  // Without an upper dir overlay is read-only anyway; redirect_dir=on is what 6.18 prints.
  CHECK(o->otherOptions == std::vector<std::string>{"redirect_dir=on"});

  // A writable overlay mounted "-o ro" keeps its read-only superblock.
  std::string roWithUpper =
      "100 22 0:40 / /m ro,relatime - overlay overlay "
      "ro,lowerdir=/l1,upperdir=/u,workdir=/w,index=off\n";
  o = findOverlayAt(roWithUpper, "/m", "");
  REQUIRE(o);
  CHECK(o->otherOptions == std::vector<std::string>{"ro", "index=off"});
  CHECK(o->mountAttrs == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_RELATIME));
}

TEST_CASE("findOverlayAt: lowerdir+ layers; ours, given by fd, are flagged", "[overlay]") {
  std::string mi =
      "71 46 0:40 / /m rw,relatime - overlay none rw,lowerdir+=/a,lowerdir+=rel/b,"
      "upperdir=/u,workdir=/w\n";
  std::optional<OverlayMount> o = findOverlayAt(mi, "/m", "/base");
  REQUIRE(o);
  CHECK(o->lowers == std::vector<std::string>{"/a", "/base/rel/b"});
  CHECK_FALSE(o->lowersByFd);

  for (std::string layers :
       {"lowerdir+=/proc/self/fd/4,lowerdir+=/proc/self/fd/5", "lowerdir+=/,lowerdir+=/"}) {
    INFO(layers);
    mi = "71 46 0:40 / /m rw,relatime - overlay overlay rw," + layers +
         ",upperdir=/u,workdir=/w,uuid=on\n";
    o = findOverlayAt(mi, "/m", "");
    REQUIRE(o);
    CHECK(o->lowersByFd);
    CHECK(o->upper == "/u");
    CHECK(o->otherOptions == std::vector<std::string>{"uuid=on"});
    // Its lower names are no paths: remounting it again must refuse, not open "/".
    CHECK_THAT(errorOf([&] { remountOverlayIdmapped(*o, -1); }),
               Catch::Contains("already has idmapped lower layers"));
  }
}

TEST_CASE("findOverlayAt: data-only layers are refused", "[overlay]") {
  for (std::string layers : {"lowerdir=/a:/b::/c", "lowerdir+=/a,datadir+=/c"}) {
    INFO(layers);
    std::string mi = "71 46 0:40 / /m rw - overlay overlay ro," + layers + "\n";
    CHECK_THAT(errorOf([&] { findOverlayAt(mi, "/m", ""); }), Catch::Contains("data-only"));
  }
}

TEST_CASE("shiftIds: a shift leaving the id range is refused", "[overlay]") {
  CHECK_THAT(errorOf([] { shiftIds("/nonexistent", 0, 65536, -1); }),
             Catch::Contains("valid id range"));
  CHECK_THAT(errorOf([] { shiftIds("/nonexistent", 0xffff0000u, 65536, 0); }),
             Catch::Contains("valid id range"));
  CHECK_THAT(errorOf([] { shiftIds("/nonexistent", 100, 0, 1); }),
             Catch::Contains("valid id range"));
}

// ---------------------------------------------------------------------------------------------
// [root] helpers

bool isRoot() {
  if (::geteuid() == 0) return true;
  WARN("skipped: needs root");
  return false;
}

// Mount points of the mounts under prefix, as mountinfo lists them (unescaped).
std::vector<std::string> mountsUnder(const std::string& prefix) {
  std::vector<std::string> out;
  std::string mi = sv::readFile("/proc/self/mountinfo");
  size_t pos = 0;
  while (pos < mi.size()) {
    size_t end = mi.find('\n', pos);
    std::string line = mi.substr(pos, end - pos);
    pos = end == std::string::npos ? mi.size() : end + 1;
    size_t a = 0;
    for (int i = 0; i < 4; ++i) a = line.find(' ', a) + 1;
    std::string mp;
    for (size_t i = a; i < line.size() && line[i] != ' '; ++i) {
      if (line[i] == '\\' && i + 3 < line.size()) {  // \ooo
        mp += static_cast<char>(std::stoi(line.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        mp += line[i];
      }
    }
    if (mp == prefix || mp.starts_with(prefix + "/")) out.push_back(mp);
  }
  return out;
}

int mountIdOf(const std::string& path) {
  struct statx stx {};
  REQUIRE(::statx(AT_FDCWD, path.c_str(), 0, STATX_MNT_ID, &stx) == 0);
  return static_cast<int>(stx.stx_mnt_id);
}

// Unmounts what a test mounted, newest first, before its TempDir is removed (remove_all would
// otherwise walk into a mounted overlay).
class Mounts {
 public:
  ~Mounts() { unmountAll(); }
  void add(const std::string& path) { paths_.push_back(path); }
  void unmountAll() {
    while (!paths_.empty()) {
      ::umount2(paths_.back().c_str(), MNT_DETACH);
      paths_.pop_back();
    }
  }

 private:
  std::vector<std::string> paths_;
};

void mkdirs(std::initializer_list<std::string> dirs) {
  for (const std::string& d : dirs) REQUIRE(::mkdir(d.c_str(), 0755) == 0);
}

void chownPath(const std::string& path, uint32_t uid, uint32_t gid) {
  REQUIRE(::lchown(path.c_str(), uid, gid) == 0);
}

// Overlay's escaping in mount(2) data.
std::string escapeLayer(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ':' || c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// Mounts an overlay the way dockerd does (classic mount(2) data).
void mountClassic(Mounts& mounts, const std::vector<std::string>& lowers, const std::string& up,
                  const std::string& work, const std::string& merged, const std::string& extra = "",
                  unsigned long flags = 0) {
  std::string data = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) data += (i ? ":" : "") + escapeLayer(lowers[i]);
  if (!up.empty()) data += ",upperdir=" + escapeLayer(up) + ",workdir=" + escapeLayer(work);
  if (!extra.empty()) data += "," + extra;
  INFO(data);
  REQUIRE(::mount("overlay", merged.c_str(), "overlay", flags, data.c_str()) == 0);
  mounts.add(merged);
}

// Mounts an overlay with one lowerdir+ per layer (what classic mount data cannot hold past 4095
// bytes).
void mountNewApi(Mounts& mounts, const std::vector<std::string>& lowers, const std::string& up,
                 const std::string& work, const std::string& merged) {
  UniqueFd fs(static_cast<int>(::syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC)));
  REQUIRE(fs);
  auto cfg = [&](unsigned cmd, const char* key, const char* value) {
    INFO(key << "=" << (value ? value : ""));
    REQUIRE(::syscall(SYS_fsconfig, fs.get(), cmd, key, value, 0) == 0);
  };
  cfg(FSCONFIG_SET_STRING, "source", "overlay");
  for (const std::string& l : lowers) cfg(FSCONFIG_SET_STRING, "lowerdir+", l.c_str());
  cfg(FSCONFIG_SET_STRING, "upperdir", up.c_str());
  cfg(FSCONFIG_SET_STRING, "workdir", work.c_str());
  cfg(FSCONFIG_CMD_CREATE, nullptr, nullptr);
  UniqueFd mnt(static_cast<int>(::syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC, 0)));
  REQUIRE(mnt);
  REQUIRE(::syscall(SYS_move_mount, mnt.get(), "", AT_FDCWD, merged.c_str(),
                    MOVE_MOUNT_F_EMPTY_PATH) == 0);
  mounts.add(merged);
}

struct stat statOf(const std::string& path) {
  struct stat st {};
  INFO(path);
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

// A file capability: CAP_NET_RAW permitted and effective; v3 carries a rootid.
std::string capBytes(std::optional<uint32_t> rootid) {
  unsigned char b[XATTR_CAPS_SZ_3] = {};
  uint32_t magic = (rootid ? VFS_CAP_REVISION_3 : VFS_CAP_REVISION_2) | VFS_CAP_FLAGS_EFFECTIVE;
  uint32_t permitted = 1u << CAP_NET_RAW;
  std::memcpy(b, &magic, 4);
  std::memcpy(b + 4, &permitted, 4);
  if (rootid) std::memcpy(b + XATTR_CAPS_SZ_2, &*rootid, 4);
  return std::string(reinterpret_cast<char*>(b), rootid ? XATTR_CAPS_SZ_3 : XATTR_CAPS_SZ_2);
}

void setCap(const std::string& path, const std::string& cap) {
  REQUIRE(::setxattr(path.c_str(), "security.capability", cap.data(), cap.size(), 0) == 0);
}

std::string getXattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// The rootid of a v3 capability as the initial namespace reads it; nullopt for v2 (which is
// also how a v3 whose rootid is 0 reads back).
std::optional<uint32_t> capRootid(const std::string& cap) {
  REQUIRE(cap.size() >= XATTR_CAPS_SZ_2);
  if (cap.size() != XATTR_CAPS_SZ_3) return std::nullopt;
  uint32_t rootid;
  std::memcpy(&rootid, cap.data() + XATTR_CAPS_SZ_2, 4);
  return rootid;
}

// Runs f in a child that joined the user namespace; f's result is the exit code.
int inUserNs(int usernsFd, const std::function<int()>& f) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setns(usernsFd, CLONE_NEWUSER) != 0) ::_exit(100);
    ::_exit(f());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void copyFile(const std::string& from, const std::string& to, mode_t mode) {
  sv::test::writeFile(to, sv::readFile(from));
  REQUIRE(::chmod(to.c_str(), mode) == 0);
}

// Two root-owned lower layers with a plain file, a setuid-root copy of a binary and files with
// v2 and v3 capabilities, and upper and work dirs owned by the container's root.
struct Layers {
  explicit Layers(const TempDir& t)
      : l1(t.file("l1")),
        l2(t.file("l2")),
        up(t.file("up")),
        work(t.file("work")),
        merged(t.file("merged")) {
    mkdirs({l1, l2, up, work, merged});
    sv::test::writeFile(l2 + "/base.txt", "from l2\n");
    sv::test::writeFile(l1 + "/top.txt", "from l1\n");
    sv::test::writeFile(l2 + "/shadowed.txt", "l2\n");
    sv::test::writeFile(l1 + "/shadowed.txt", "l1\n");
    copyFile("/bin/true", l2 + "/suid-true", 04755);
    sv::test::writeFile(l1 + "/capv2", "");
    setCap(l1 + "/capv2", capBytes(std::nullopt));
    sv::test::writeFile(l2 + "/capv3", "");
    setCap(l2 + "/capv3", capBytes(0));
    chownPath(up, kBase, kBase);
    chownPath(work, kBase, kBase);
  }
  std::string l1, l2, up, work, merged;
};

OverlayMount overlayAt(const std::string& path, const std::string& base) {
  std::optional<OverlayMount> o = findOverlayAt(sv::readFile("/proc/self/mountinfo"), path, base);
  REQUIRE(o);
  return *o;
}

// ---------------------------------------------------------------------------------------------
// remountOverlayIdmapped

TEST_CASE("remountOverlayIdmapped: image files show the container's root, one mount remains",
          "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  Mounts mounts;
  Layers l(t);
  mountClassic(mounts, {l.l1, l.l2}, l.up, l.work, l.merged, "index=off");
  OverlayMount o = overlayAt(l.merged, t.path);
  CHECK(o.lowers == std::vector<std::string>{l.l1, l.l2});
  CHECK(o.upper == l.up);
  CHECK(statOf(l.merged + "/base.txt").st_uid == 0);

  UniqueFd userns = sv::ns::makeUserNs(kMap, kMap);
  remountOverlayIdmapped(o, userns.get());

  // Through the new mount, from the host: the image's files are owned by the container's root,
  // merged layers still read top-most first, the setuid bit and capabilities are there.
  for (std::string f : {"base.txt", "top.txt", "suid-true", "capv2", "capv3"}) {
    INFO(f);
    struct stat st = statOf(l.merged + "/" + f);
    CHECK(st.st_uid == kBase);
    CHECK(st.st_gid == kBase);
  }
  CHECK(sv::readFile(l.merged + "/shadowed.txt") == "l1\n");
  CHECK(sv::readFile(l.merged + "/base.txt") == "from l2\n");
  CHECK((statOf(l.merged + "/suid-true").st_mode & 07777) == 04755);
  // The host sees an image capability as namespaced to the container's root: valid inside.
  CHECK(capRootid(getXattr(l.merged + "/capv2", "security.capability")) == kBase);
  CHECK(capRootid(getXattr(l.merged + "/capv3", "security.capability")) == kBase);
  // The root dir comes from the upper dir, which keeps its owner.
  CHECK(statOf(l.merged).st_uid == kBase);
  CHECK(statOf(l.up).st_uid == kBase);
  // The layers on disk are untouched.
  CHECK(statOf(l.l2 + "/base.txt").st_uid == 0);
  CHECK(capRootid(getXattr(l.l1 + "/capv2", "security.capability")) == std::nullopt);

  // Inside the user namespace the image is root's and its capabilities are plain v2 ones.
  CHECK(inUserNs(userns.get(), [&] {
          struct stat st {};
          if (::stat((l.merged + "/base.txt").c_str(), &st) != 0) return 2;
          if (st.st_uid != 0 || st.st_gid != 0) return 3;
          char cap[64];
          if (::getxattr((l.merged + "/capv2").c_str(), "security.capability", cap, sizeof cap) !=
              XATTR_CAPS_SZ_2)
            return 4;
          return 0;
        }) == 0);

  // Exactly one mount on merged, not Docker's: the new one, built from lowerdir+ fds.
  CHECK(mountsUnder(t.path) == std::vector<std::string>{l.merged});
  CHECK(mountIdOf(l.merged) != o.mountId);
  OverlayMount now = overlayAt(l.merged, t.path);
  CHECK(now.lowersByFd);
  CHECK(now.lowers.size() == 2);
  CHECK(now.upper == l.up);
  CHECK(now.work == l.work);
  CHECK(now.source == "overlay");

  // Host root's writes land in the upper dir, as root.
  sv::test::writeFile(l.merged + "/new.txt", "new\n");
  CHECK(sv::readFile(l.up + "/new.txt") == "new\n");
  CHECK(statOf(l.up + "/new.txt").st_uid == 0);
  // A copy-up of an image file keeps the owner it has through the idmapped layer.
  REQUIRE(::chmod((l.merged + "/base.txt").c_str(), 0600) == 0);
  CHECK(statOf(l.up + "/base.txt").st_uid == kBase);
  CHECK(statOf(l.l2 + "/base.txt").st_uid == 0);

  mounts.unmountAll();
  CHECK(mountsUnder(t.path).empty());
}

TEST_CASE("remountOverlayIdmapped: a failure leaves the original mount in place",
          "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  Mounts mounts;
  Layers l(t);
  mountClassic(mounts, {l.l1, l.l2}, l.up, l.work, l.merged);
  OverlayMount o = overlayAt(l.merged, t.path);
  UniqueFd userns = sv::ns::makeUserNs(kMap, kMap);

  SECTION("not a user namespace") {
    UniqueFd notNs(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    CHECK_THROWS_AS(remountOverlayIdmapped(o, notNs.get()), sv::SysError);
  }
  SECTION("a lower layer that is gone") {
    o.lowers[1] = t.file("gone");
    CHECK_THAT(errorOf<sv::SysError>([&] { remountOverlayIdmapped(o, userns.get()); }),
               Catch::Contains(t.file("gone")));
  }
  SECTION("an option the kernel refuses (its message is in the error)") {
    o.otherOptions.push_back("redirect_dir=bogus");
    CHECK_THAT(errorOf<sv::SysError>([&] { remountOverlayIdmapped(o, userns.get()); }),
               Catch::Contains("redirect_dir=bogus"));
  }
  SECTION("another mount than the one parsed is on the path") {
    o.mountId += 100000;
    CHECK_THAT(errorOf([&] { remountOverlayIdmapped(o, userns.get()); }),
               Catch::Contains("changed while sysvisor rebuilt it"));
    o.mountId -= 100000;
  }
  CHECK(mountsUnder(t.path) == std::vector<std::string>{l.merged});
  CHECK(mountIdOf(l.merged) == o.mountId);
  CHECK(statOf(l.merged + "/base.txt").st_uid == 0);

  mounts.unmountAll();
  CHECK(mountsUnder(t.path).empty());
}

TEST_CASE("remountOverlayIdmapped: index=on refuses a second mount, which fails cleanly",
          "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  Mounts mounts;
  Layers l(t);
  mountClassic(mounts, {l.l1, l.l2}, l.up, l.work, l.merged, "index=on");
  OverlayMount o = overlayAt(l.merged, t.path);
  REQUIRE_FALSE(o.otherOptions.empty());
  CHECK(o.otherOptions[0] == "index=on");
  UniqueFd userns = sv::ns::makeUserNs(kMap, kMap);
  CHECK_THAT(errorOf<sv::SysError>([&] { remountOverlayIdmapped(o, userns.get()); }),
             Catch::Contains("index=on"));
  CHECK(mountsUnder(t.path) == std::vector<std::string>{l.merged});
  CHECK(mountIdOf(l.merged) == o.mountId);
  mounts.unmountAll();
  CHECK(mountsUnder(t.path).empty());
}

TEST_CASE("remountOverlayIdmapped: escaped layer names, options and mount flags survive",
          "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  Mounts mounts;
  std::vector<std::string> lowers = {t.file("a:b"), t.file("c,d"), t.file("s p"), t.file("x\\y")};
  std::string up = t.file("up per"), work = t.file("w\\k"), merged = t.file("mer ged");
  for (const std::string& d : lowers) {
    mkdirs({d});
    sv::test::writeFile(d + "/in-" + std::to_string(&d - lowers.data()), "x");
  }
  mkdirs({up, work, merged});
  mountClassic(mounts, lowers, up, work, merged, "redirect_dir=on,volatile", MS_NOSUID | MS_NODEV);
  OverlayMount o = overlayAt(merged, "");
  CHECK(o.lowers == lowers);
  CHECK(o.upper == up);
  CHECK(o.work == work);
  CHECK(o.mountAttrs == (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_RELATIME));

  UniqueFd userns = sv::ns::makeUserNs(kMap, kMap);
  remountOverlayIdmapped(o, userns.get());
  for (size_t i = 0; i < lowers.size(); ++i)
    CHECK(statOf(merged + "/in-" + std::to_string(i)).st_uid == kBase);
  OverlayMount now = overlayAt(merged, "");
  CHECK(now.upper == up);
  CHECK(now.work == work);
  CHECK(now.otherOptions == o.otherOptions);
  CHECK(now.mountAttrs == o.mountAttrs);
  CHECK(mountsUnder(t.path) == std::vector<std::string>{merged});

  mounts.unmountAll();
  CHECK(mountsUnder(t.path).empty());
}

TEST_CASE("remountOverlayIdmapped: a read-only overlay stays read-only", "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  Mounts mounts;
  Layers l(t);
  mountClassic(mounts, {l.l1, l.l2}, "", "", l.merged);
  OverlayMount o = overlayAt(l.merged, t.path);
  REQUIRE(o.upper.empty());
  UniqueFd userns = sv::ns::makeUserNs(kMap, kMap);
  remountOverlayIdmapped(o, userns.get());
  CHECK(statOf(l.merged + "/top.txt").st_uid == kBase);
  CHECK(::open((l.merged + "/new").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644) == -1);
  CHECK(errno == EROFS);
  CHECK(mountsUnder(t.path) == std::vector<std::string>{l.merged});
  mounts.unmountAll();
  CHECK(mountsUnder(t.path).empty());
}

// Also the timing asked for in overlay_idmap.h (printed, never asserted).
TEST_CASE("remountOverlayIdmapped: many long layer names (past mount(2)'s 4095 bytes), timing",
          "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  UniqueFd userns = sv::ns::makeUserNs(kMap, kMap);
  std::vector<std::string> lowers;
  for (int i = 0; i < 50; ++i) {
    lowers.push_back(t.file(fmt::format("layer-{:02}-{}", i, std::string(100, 'x'))));
    mkdirs({lowers.back()});
    sv::test::writeFile(lowers.back() + fmt::format("/f{:02}", i), "x");
  }
  std::string up = t.file("up"), work = t.file("work"), merged = t.file("merged");
  mkdirs({up, work, merged});
  size_t optionBytes = 0;
  for (const std::string& l : lowers) optionBytes += l.size() + 1;
  REQUIRE(optionBytes > 4095);

  for (size_t n : {size_t(2), lowers.size()}) {
    std::vector<std::string> layers(lowers.begin(), lowers.begin() + long(n));
    std::vector<double> ms;
    for (int rep = 0; rep < 5; ++rep) {
      Mounts mounts;
      mountNewApi(mounts, layers, up, work, merged);
      OverlayMount o = overlayAt(merged, "");
      REQUIRE(o.lowers == layers);
      auto start = std::chrono::steady_clock::now();
      remountOverlayIdmapped(o, userns.get());
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      for (size_t i = 0; i < n; ++i)
        CHECK(statOf(merged + fmt::format("/f{:02}", i)).st_uid == kBase);
      CHECK(mountsUnder(t.path) == std::vector<std::string>{merged});
    }
    std::sort(ms.begin(), ms.end());
    WARN(fmt::format("remountOverlayIdmapped with {} layers: median {:.2f} ms (min {:.2f})", n,
                     ms[ms.size() / 2], ms[0]));
  }
  CHECK(mountsUnder(t.path).empty());
}

// ---------------------------------------------------------------------------------------------
// shiftIds

TEST_CASE("shiftIds: forward and back, keeping what chown clears", "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  std::string tree = t.file("upper"), outside = t.file("outside");
  mkdirs({tree, outside, tree + "/dir", tree + "/opaque", tree + "/sgid-dir"});
  sv::test::writeFile(outside + "/target", "outside\n");
  sv::test::writeFile(tree + "/file", "f\n");
  sv::test::writeFile(tree + "/dir/nested", "n\n");
  copyFile("/bin/true", tree + "/suid", 04755);
  copyFile("/bin/true", tree + "/sgid", 02755);
  REQUIRE(::chmod((tree + "/sgid-dir").c_str(), 02775) == 0);
  sv::test::writeFile(tree + "/capv2", "");
  setCap(tree + "/capv2", capBytes(std::nullopt));
  sv::test::writeFile(tree + "/capv3", "");
  setCap(tree + "/capv3", capBytes(5));
  sv::test::writeFile(tree + "/foreign", "");
  chownPath(tree + "/foreign", 70000, 5);  // uid outside the range, gid inside
  REQUIRE(::link((tree + "/file").c_str(), (tree + "/dir/hardlink").c_str()) == 0);
  REQUIRE(::symlink((outside + "/target").c_str(), (tree + "/link").c_str()) == 0);
  REQUIRE(::symlink(outside.c_str(), (tree + "/dirlink").c_str()) == 0);
  REQUIRE(::mknod((tree + "/whiteout").c_str(), S_IFCHR | 0000, makedev(0, 0)) == 0);
  REQUIRE(::setxattr((tree + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  // root, dir, opaque, sgid-dir, file, dir/nested, suid, sgid, capv2, capv3, foreign,
  // dir/hardlink, link, dirlink, whiteout
  constexpr uint64_t kEntries = 15;

  sv::ns::ShiftStats fwd = shiftIds(tree, 0, 65536, kBase);
  CHECK(fwd.files == kEntries);
  CHECK(fwd.changed == kEntries - 1);  // the hard link's inode once
  for (std::string f : {"", "/dir", "/opaque", "/file", "/dir/nested", "/dir/hardlink", "/suid",
                        "/capv2", "/capv3", "/link", "/dirlink", "/whiteout", "/sgid-dir"}) {
    INFO(f);
    struct stat st = statOf(tree + f);
    CHECK(st.st_uid == kBase);
    CHECK(st.st_gid == kBase);
  }
  CHECK(statOf(tree + "/foreign").st_uid == 70000);
  CHECK(statOf(tree + "/foreign").st_gid == kBase + 5);
  CHECK((statOf(tree + "/suid").st_mode & 07777) == 04755);
  CHECK((statOf(tree + "/sgid").st_mode & 07777) == 02755);
  CHECK((statOf(tree + "/sgid-dir").st_mode & 07777) == 02775);
  CHECK(getXattr(tree + "/capv2", "security.capability") == capBytes(std::nullopt));
  CHECK(capRootid(getXattr(tree + "/capv3", "security.capability")) == kBase + 5);
  struct stat wh = statOf(tree + "/whiteout");
  CHECK(S_ISCHR(wh.st_mode));
  CHECK(wh.st_rdev == makedev(0, 0));
  CHECK(getXattr(tree + "/opaque", "trusted.overlay.opaque") == "y");
  // Symlinks were changed themselves, their targets not.
  CHECK(statOf(outside + "/target").st_uid == 0);
  CHECK(statOf(outside).st_uid == 0);

  sv::ns::ShiftStats back = shiftIds(tree, kBase, 65536, -int64_t(kBase));
  CHECK(back.files == kEntries);
  CHECK(back.changed == kEntries - 1);
  for (std::string f :
       {"", "/dir", "/file", "/dir/hardlink", "/suid", "/capv3", "/link", "/whiteout"}) {
    INFO(f);
    CHECK(statOf(tree + f).st_uid == 0);
    CHECK(statOf(tree + f).st_gid == 0);
  }
  CHECK(statOf(tree + "/foreign").st_uid == 70000);
  CHECK(statOf(tree + "/foreign").st_gid == 5);
  CHECK((statOf(tree + "/suid").st_mode & 07777) == 04755);
  CHECK(getXattr(tree + "/capv2", "security.capability") == capBytes(std::nullopt));
  CHECK(capRootid(getXattr(tree + "/capv3", "security.capability")) == 5u);
  CHECK(getXattr(tree + "/opaque", "trusted.overlay.opaque") == "y");

  // Nothing in range any more: a second shift back changes nothing.
  CHECK(shiftIds(tree, kBase, 65536, -int64_t(kBase)).changed == 0);
}

TEST_CASE("shiftIds: other mounts and a symlinked root are not entered", "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  Mounts mounts;
  std::string tree = t.file("tree"), other = t.file("other");
  mkdirs({tree, other, tree + "/tmpfs", tree + "/bind"});
  sv::test::writeFile(other + "/f", "");
  REQUIRE(::mount("tmpfs", (tree + "/tmpfs").c_str(), "tmpfs", 0, "mode=755") == 0);
  mounts.add(tree + "/tmpfs");
  sv::test::writeFile(tree + "/tmpfs/f", "");
  // Same filesystem, same st_dev: only the mount id tells it apart.
  REQUIRE(::mount(other.c_str(), (tree + "/bind").c_str(), nullptr, MS_BIND, nullptr) == 0);
  mounts.add(tree + "/bind");
  sv::test::writeFile(tree + "/file-bind", "");
  REQUIRE(::mount((other + "/f").c_str(), (tree + "/file-bind").c_str(), nullptr, MS_BIND,
                  nullptr) == 0);
  mounts.add(tree + "/file-bind");

  shiftIds(tree, 0, 65536, kBase);
  CHECK(statOf(tree).st_uid == kBase);
  CHECK(statOf(tree + "/tmpfs").st_uid == 0);
  CHECK(statOf(tree + "/tmpfs/f").st_uid == 0);
  CHECK(statOf(other).st_uid == 0);
  CHECK(statOf(other + "/f").st_uid == 0);
  CHECK(statOf(tree + "/file-bind").st_uid == 0);

  REQUIRE(::symlink(tree.c_str(), t.file("link").c_str()) == 0);
  CHECK_THROWS_AS(shiftIds(t.file("link"), kBase, 65536, -int64_t(kBase)), sv::SysError);
  CHECK(statOf(tree).st_uid == kBase);

  mounts.unmountAll();
  CHECK(mountsUnder(t.path).empty());
}

TEST_CASE("shiftIds: a tree deeper than the fds it keeps open", "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  std::string tree = t.file("deep");
  mkdirs({tree});
  UniqueFd dir(::open(tree.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  constexpr int kDepth = 300;
  for (int i = 0; i < kDepth; ++i) {
    REQUIRE(::mkdirat(dir.get(), "d", 0755) == 0);
    UniqueFd f(::openat(dir.get(), "side", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    REQUIRE(f);
    dir = UniqueFd(::openat(dir.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
  }
  sv::ns::ShiftStats s = shiftIds(tree, 0, 65536, kBase);
  CHECK(s.files == 1 + 2 * kDepth);
  CHECK(s.changed == 1 + 2 * kDepth);
  struct stat st {};
  REQUIRE(::fstat(dir.get(), &st) == 0);
  CHECK(st.st_uid == kBase);
  CHECK(shiftIds(tree, kBase, 65536, -int64_t(kBase)).changed == 1 + 2 * kDepth);
  REQUIRE(::fstat(dir.get(), &st) == 0);
  CHECK(st.st_uid == 0);
}

// The figure in id_shift.h (printed, never asserted).
TEST_CASE("shiftIds speed: 10000 files", "[overlay][root]") {
  if (!isRoot()) return;
  TempDir t;
  std::string tree = t.file("tree");
  mkdirs({tree});
  for (int d = 0; d < 100; ++d) {
    std::string dir = fmt::format("{}/d{}", tree, d);
    mkdirs({dir});
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int f = 0; f < 99; ++f) {
      UniqueFd fd(
          ::openat(dfd.get(), fmt::format("f{}", f).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      REQUIRE(fd);
    }
  }
  auto time = [&](uint32_t from, int64_t delta) {
    auto start = std::chrono::steady_clock::now();
    sv::ns::ShiftStats s = shiftIds(tree, from, 65536, delta);
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    CHECK(s.files == 10001);
    CHECK(s.changed == 10001);
    return ms;
  };
  double fwd = time(0, kBase), back = time(kBase, -int64_t(kBase));
  WARN(fmt::format("shiftIds on 10001 entries: forward {:.1f} ms, back {:.1f} ms", fwd, back));
  CHECK(statOf(tree + "/d99/f98").st_uid == 0);
}

}  // namespace
