"""The engine's id-shifting view (`sysvisor idview <dir> <mnt> <uid base> <gid base> <size>`,
src/fusefs/id_view.cc) as root, no containers: every test mounts a fresh view of a private temp
dir whose ids are in [BASE, BASE+SIZE) and checks, on both sides, that ids read 0-based, that
what root creates or chowns through the view lands in the range, that capability and ACL
xattrs are shifted, that the server never follows a symlink it finds in the dir, that changes
made directly in the dir are seen through the view by the next call (after the kernel's one-jiffy
reuse of a reply), that files deleted directly are let go, and that the server exits 0 when
its mount goes. Nothing outside the test's own temp dirs is touched.
"""

import errno
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_mgr import BIN, read, sh  # noqa: E402

BASE = 400000
SIZE = 65536
SOURCE = "sysvisor-idview"
# Longer than the kernel may reuse a reply of the view (entry/attribute timeouts of 1 ms, one
# jiffy when rounded up: 10 ms at HZ=100), and the server's sweep of deleted files.
CACHE_WINDOW = 0.03
SWEEP_SECONDS = 5

# security.capability (linux/capability.h)
CAP_V2, CAP_V3, CAP_EFFECTIVE = 0x02000000, 0x03000000, 0x000001
CAP_NET_RAW = 13
# POSIX ACL xattr (linux/posix_acl_xattr.h)
ACL_VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF


def cap_v2(permitted=1 << CAP_NET_RAW, inheritable=0, effective=True):
    magic = CAP_V2 | (CAP_EFFECTIVE if effective else 0)
    return struct.pack("<5I", magic, permitted, inheritable, 0, 0)


def cap_v3(rootid, permitted=1 << CAP_NET_RAW, inheritable=0, effective=True):
    magic = CAP_V3 | (CAP_EFFECTIVE if effective else 0)
    return struct.pack("<6I", magic, permitted, inheritable, 0, 0, rootid)


def acl(entries):
    """entries: (tag, perm, id) in the kernel's order (tag, then id)."""
    return struct.pack("<I", ACL_VERSION) + b"".join(
        struct.pack("<HHI", tag, perm, UNDEFINED_ID if ident is None else ident)
        for tag, perm, ident in entries)


def acl_entries(blob):
    (version,) = struct.unpack_from("<I", blob)
    assert version == ACL_VERSION, blob
    return [struct.unpack_from("<HHI", blob, off) for off in range(4, len(blob), 8)]


def user_acl(uid, gid=None):
    """A valid access ACL with an ACL_USER entry for uid (and an ACL_GROUP one for gid)."""
    e = [(USER_OBJ, 7, None), (USER, 6, uid), (GROUP_OBJ, 5, None)]
    if gid is not None:
        e.append((GROUP, 4, gid))
    return acl(e + [(MASK, 7, None), (OTHER, 4, None)])


def view_mounts(mnt):
    """(mount options, fstype, source, super options) of every mount on mnt."""
    out = []
    for line in read("/proc/self/mountinfo").splitlines():
        left, right = line.split(" - ", 1)
        f = left.split()
        fstype, source, superopts = right.split(" ", 2)
        if f[4] == mnt:
            out.append((f[5], fstype, source, superopts))
    return out


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def content(path):
    with open(path, "rb") as f:
        return f.read()


class IdViewTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sv-idview-", dir="/tmp")
        self.other = tempfile.mkdtemp(prefix="sv-idview-other-", dir="/tmp")
        self.src = os.path.join(self.tmp, "src")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.src, 0o755)
        os.mkdir(self.mnt, 0o755)
        os.chown(self.src, BASE, BASE)
        self.fds = []
        self.errf = os.path.join(self.tmp, "idview.stderr")
        with open(self.errf, "w") as err:
            self.proc = subprocess.Popen(
                [BIN, "idview", self.src, self.mnt, str(BASE), str(BASE), str(SIZE)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 10
        while not self.mounted():
            if self.proc.poll() is not None:
                self.cleanup()
                raise AssertionError(f"idview exited {self.proc.returncode}: {read(self.errf)}")
            if time.monotonic() > deadline:
                self.cleanup()
                raise AssertionError("the view did not show up in mountinfo")
            time.sleep(0.01)

    def mounted(self):
        return any(fstype == "fuse" and source == SOURCE
                   for _, fstype, source, _ in view_mounts(self.mnt))

    def cleanup(self):
        """Unmounts (lazily if need be), reaps the server, removes the temp dirs. Returns
        what went wrong."""
        problems = []
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        if self.mounted():
            r = sh("umount", self.mnt, check=False)
            if r.returncode != 0:
                problems.append(f"umount {self.mnt}: {r.stderr.strip()}")
                sh("umount", "-l", self.mnt, check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            problems.append("idview still running 10s after its unmount")
            self.proc.kill()
            self.proc.wait()
        if self.mounted():
            problems.append("the view is still mounted; temp dir left in place: " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.other, ignore_errors=True)
        return problems

    def tearDown(self):
        problems = self.cleanup()
        if problems:
            raise AssertionError("; ".join(problems))

    # paths on each side
    def s(self, *p):
        return os.path.join(self.src, *p)

    def v(self, *p):
        return os.path.join(self.mnt, *p)

    def assertOwner(self, path, uid, gid, follow=False):
        st = os.stat(path, follow_symlinks=follow)
        self.assertEqual((st.st_uid, st.st_gid), (uid, gid), path)

    def assertErrno(self, err, fn, *args, **kw):
        with self.assertRaises(OSError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.errno, err,
                         f"{fn.__name__}{args}: {errno.errorcode.get(cm.exception.errno)}")

    # ---- 1. ids read 0-based ----

    def test_stat_maps_ids_in_range_only(self):
        cases = {  # disk owner -> view owner
            "in": ((BASE + 1000, BASE + 1001), (1000, 1001)),
            "out": ((7, 7), (7, 7)),
            "root": ((0, 0), (0, 0)),
            "first": ((BASE, BASE), (0, 0)),
            "last": ((BASE + SIZE - 1, BASE + SIZE - 1), (SIZE - 1, SIZE - 1)),
            "above": ((BASE + SIZE, BASE + SIZE), (BASE + SIZE, BASE + SIZE)),
            "below": ((BASE - 1, BASE - 1), (BASE - 1, BASE - 1)),
            "mixed": ((BASE + 5, 9), (5, 9)),
        }
        for name, (disk, _) in cases.items():
            write(self.s(name), name.encode(), 0o640)
            os.chown(self.s(name), *disk)
        os.mkdir(self.s("dir"))
        os.chown(self.s("dir"), BASE + 33, BASE + 34)
        os.symlink("in", self.s("link"))
        os.lchown(self.s("link"), BASE + 44, BASE + 45)

        self.assertOwner(self.mnt, 0, 0)
        for name, (_, view) in cases.items():
            self.assertOwner(self.v(name), *view)
            d, w = os.stat(self.s(name)), os.stat(self.v(name))
            self.assertEqual((w.st_mode, w.st_size, w.st_ino, w.st_nlink, w.st_mtime_ns),
                             (d.st_mode, d.st_size, d.st_ino, d.st_nlink, d.st_mtime_ns), name)
        self.assertOwner(self.v("dir"), 33, 34)
        self.assertOwner(self.v("link"), 44, 45)
        self.assertTrue(stat.S_ISLNK(os.lstat(self.v("link")).st_mode))
        self.assertEqual(sorted(os.listdir(self.mnt)), sorted(os.listdir(self.src)))

    # ---- 2. what root creates or chowns through the view ----

    def test_created_nodes_owned_by_base_on_disk(self):
        fd = os.open(self.v("file"), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o640)
        os.write(fd, b"through the view")
        os.close(fd)
        os.mkdir(self.v("dir"), 0o750)
        os.symlink("some/where", self.v("link"))
        os.mkfifo(self.v("fifo"), 0o600)
        with open(self.v("dir", "nested"), "w") as f:  # in a dir the view made
            f.write("x")
        for name, kind, perm in (("file", stat.S_IFREG, 0o640), ("dir", stat.S_IFDIR, 0o750),
                                 ("link", stat.S_IFLNK, None), ("fifo", stat.S_IFIFO, 0o600),
                                 ("dir/nested", stat.S_IFREG, None)):
            d = os.lstat(self.s(name))
            self.assertEqual(stat.S_IFMT(d.st_mode), kind, name)
            if perm is not None:
                self.assertEqual(stat.S_IMODE(d.st_mode), perm, name)
            self.assertEqual((d.st_uid, d.st_gid), (BASE, BASE), name)
            self.assertOwner(self.v(name), 0, 0)
        self.assertEqual(content(self.s("file")), b"through the view")
        self.assertEqual(os.readlink(self.s("link")), "some/where")

    def test_chown_through_view_stores_base_plus_id(self):
        write(self.s("f"), b"x")
        os.chown(self.s("f"), BASE, BASE)
        os.chown(self.v("f"), 1000, 1001)
        self.assertOwner(self.s("f"), BASE + 1000, BASE + 1001)
        self.assertOwner(self.v("f"), 1000, 1001)
        os.chown(self.v("f"), -1, 5)  # the uid left alone
        self.assertOwner(self.s("f"), BASE + 1000, BASE + 5)
        os.chown(self.v("f"), SIZE - 1, SIZE - 1)  # the last id of the range
        self.assertOwner(self.s("f"), BASE + SIZE - 1, BASE + SIZE - 1)
        for uid, gid in ((70000, -1), (-1, 70000), (SIZE, 0), (0, SIZE)):
            self.assertErrno(errno.EINVAL, os.chown, self.v("f"), uid, gid)
        self.assertOwner(self.s("f"), BASE + SIZE - 1, BASE + SIZE - 1)
        # A directory and a symlink itself (lchown).
        os.mkdir(self.s("d"))
        os.chown(self.v("d"), 2, 3)
        self.assertOwner(self.s("d"), BASE + 2, BASE + 3)
        os.symlink("f", self.s("l"))
        os.chown(self.v("l"), 4, 6, follow_symlinks=False)
        self.assertOwner(self.s("l"), BASE + 4, BASE + 6)
        self.assertOwner(self.s("f"), BASE + SIZE - 1, BASE + SIZE - 1)

    def test_setuid_bits_survive_the_owner_mapping(self):
        for name, mode in (("suid", 0o4755), ("sgid", 0o2755), ("both", 0o6755)):
            fd = os.open(self.v(name), os.O_CREAT | os.O_WRONLY | os.O_EXCL, mode)
            os.close(fd)
            d = os.stat(self.s(name))
            self.assertEqual(stat.S_IMODE(d.st_mode), mode, f"{name}: {oct(d.st_mode)}")
            self.assertEqual((d.st_uid, d.st_gid), (BASE, BASE), name)
            self.assertEqual(stat.S_IMODE(os.stat(self.v(name)).st_mode), mode, name)

    # ---- 3. setgid directories ----

    def test_setgid_dir_group_is_the_kernels(self):
        os.mkdir(self.s("sg"))
        os.chown(self.s("sg"), BASE, BASE + 50)
        os.chmod(self.s("sg"), 0o2775)
        with open(self.v("sg", "f"), "w") as f:
            f.write("x")
        os.mkdir(self.v("sg", "sub"), 0o755)
        os.mkfifo(self.v("sg", "fifo"))
        self.assertOwner(self.s("sg", "f"), BASE, BASE + 50)
        self.assertOwner(self.s("sg", "fifo"), BASE, BASE + 50)
        self.assertOwner(self.s("sg", "sub"), BASE, BASE + 50)
        self.assertTrue(os.stat(self.s("sg", "sub")).st_mode & stat.S_ISGID,
                        "a dir made in a setgid dir lost its setgid bit")
        self.assertOwner(self.v("sg", "f"), 0, 50)
        # Outside the setgid dir the caller's gid is used again.
        with open(self.v("plain"), "w") as f:
            f.write("x")
        self.assertOwner(self.s("plain"), BASE, BASE)

    # ---- 4. file capabilities ----

    def test_capability_v2_stored_as_v3_with_rootid_base(self):
        write(self.s("f"), b"\x7fELF", 0o755)
        os.chown(self.s("f"), BASE, BASE)
        v2 = cap_v2()
        self.assertEqual(len(v2), 20)
        os.setxattr(self.v("f"), "security.capability", v2)
        disk = os.getxattr(self.s("f"), "security.capability")
        self.assertEqual(len(disk), 24, disk.hex())
        magic, perm, inh, perm1, inh1, rootid = struct.unpack("<6I", disk)
        self.assertEqual(magic, CAP_V3 | CAP_EFFECTIVE)
        self.assertEqual((perm, inh, perm1, inh1), (1 << CAP_NET_RAW, 0, 0, 0))
        self.assertEqual(rootid, BASE)
        self.assertEqual(os.getxattr(self.v("f"), "security.capability"), v2)

    def test_capability_v3_rootid_shifted_both_ways(self):
        write(self.s("f"), b"\x7fELF", 0o755)
        os.chown(self.s("f"), BASE, BASE)
        os.setxattr(self.v("f"), "security.capability", cap_v3(1000))
        self.assertEqual(os.getxattr(self.s("f"), "security.capability"), cap_v3(BASE + 1000))
        self.assertEqual(os.getxattr(self.v("f"), "security.capability"), cap_v3(1000))
        # A rootid the range cannot hold is refused; the stored value stays.
        self.assertErrno(errno.EINVAL, os.setxattr, self.v("f"), "security.capability",
                         cap_v3(70000))
        self.assertEqual(os.getxattr(self.s("f"), "security.capability"), cap_v3(BASE + 1000))
        # Set on disk: rootid base reads as v2, a rootid outside the range as itself.
        os.setxattr(self.s("f"), "security.capability", cap_v3(BASE))
        self.assertEqual(os.getxattr(self.v("f"), "security.capability"), cap_v2())
        os.setxattr(self.s("f"), "security.capability", cap_v3(5))
        self.assertEqual(os.getxattr(self.v("f"), "security.capability"), cap_v3(5))

    # ---- 5. POSIX ACLs ----

    def acl_supported_on_disk(self):
        probe = self.s("acl-probe")
        write(probe, b"")
        try:
            os.setxattr(probe, "system.posix_acl_access", user_acl(BASE + 1))
        except OSError as e:
            return f"{os.strerror(e.errno)} setting an ACL directly under /tmp"
        finally:
            os.unlink(probe)
        return None

    def test_acl_user_and_group_entries_shifted(self):
        why = self.acl_supported_on_disk()
        if why:
            self.skipTest("the filesystem under /tmp refuses POSIX ACLs: " + why)
        write(self.s("f"), b"x", 0o640)
        os.chown(self.s("f"), BASE, BASE)
        os.setxattr(self.v("f"), "system.posix_acl_access", user_acl(1000, 2000))
        disk = acl_entries(os.getxattr(self.s("f"), "system.posix_acl_access"))
        self.assertIn((USER, 6, BASE + 1000), disk)
        self.assertIn((GROUP, 4, BASE + 2000), disk)
        view = acl_entries(os.getxattr(self.v("f"), "system.posix_acl_access"))
        self.assertIn((USER, 6, 1000), view)
        self.assertIn((GROUP, 4, 2000), view)
        # Set on disk with an id outside the range: reads unchanged.
        os.setxattr(self.s("f"), "system.posix_acl_access", user_acl(7))
        self.assertIn((USER, 6, 7), acl_entries(os.getxattr(self.v("f"),
                                                            "system.posix_acl_access")))
        # An id the range cannot hold.
        self.assertErrno(errno.EINVAL, os.setxattr, self.v("f"), "system.posix_acl_access",
                         user_acl(70000))
        # The default ACL of a directory.
        os.mkdir(self.s("d"))
        os.setxattr(self.v("d"), "system.posix_acl_default", user_acl(3))
        self.assertIn((USER, 6, BASE + 3),
                      acl_entries(os.getxattr(self.s("d"), "system.posix_acl_default")))
        self.assertIn((USER, 6, 3),
                      acl_entries(os.getxattr(self.v("d"), "system.posix_acl_default")))

    # ---- 6. symlinks in the dir are never followed by the server ----

    def make_target(self):
        target = os.path.join(self.other, "passwd-sv-idview-test-target")
        write(target, b"secret\n", 0o600)
        os.chown(target, 0, 0)
        os.utime(target, ns=(1_000_000_000 * 10**9, 1_000_000_000 * 10**9))
        os.setxattr(target, "trusted.sv-idview-test", b"target")
        return target

    def assertTargetIntact(self, target):
        st = os.stat(target)
        self.assertEqual(content(target), b"secret\n")
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink),
                         (0, 0, 0o600, 1))
        self.assertEqual(st.st_mtime_ns, 1_000_000_000 * 10**9)
        self.assertEqual(os.listxattr(target), ["trusted.sv-idview-test"])

    def test_hostile_symlink_to_a_file(self):
        target = self.make_target()
        os.symlink(target, self.s("evil"))
        self.assertEqual(os.readlink(self.v("evil")), target)
        self.assertErrno(errno.EEXIST, os.open, self.v("evil"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        self.assertErrno(errno.ELOOP, os.open, self.v("evil"), os.O_RDONLY | os.O_NOFOLLOW)
        # The link itself changes, never the target.
        os.chown(self.v("evil"), 1000, 1000, follow_symlinks=False)
        self.assertOwner(self.s("evil"), BASE + 1000, BASE + 1000)
        os.utime(self.v("evil"), ns=(1234 * 10**9, 5678 * 10**9), follow_symlinks=False)
        self.assertEqual(os.lstat(self.s("evil")).st_mtime_ns, 5678 * 10**9)
        # Xattrs of a symlink read as none (the target has one) and cannot be set.
        self.assertErrno(errno.ENODATA, os.getxattr, self.v("evil"), "trusted.sv-idview-test",
                         follow_symlinks=False)
        self.assertEqual(os.listxattr(self.v("evil"), follow_symlinks=False), [])
        self.assertErrno(errno.EPERM, os.setxattr, self.v("evil"), "trusted.sv-idview-x",
                         b"x", follow_symlinks=False)
        self.assertErrno(errno.ENODATA, os.removexattr, self.v("evil"),
                         "trusted.sv-idview-test", follow_symlinks=False)
        # A hard link of the link is a second link, not a link of the target (same fs: a
        # followed link would succeed and show as nlink 2 on the target).
        os.link(self.v("evil"), self.v("evil-hl"), follow_symlinks=False)
        self.assertTrue(stat.S_ISLNK(os.lstat(self.s("evil-hl")).st_mode))
        self.assertEqual(os.lstat(self.s("evil-hl")).st_ino, os.lstat(self.s("evil")).st_ino)
        os.rename(self.v("evil"), self.v("evil2"))
        self.assertFalse(os.path.lexists(self.s("evil")))
        self.assertEqual(os.readlink(self.s("evil2")), target)
        self.assertTargetIntact(target)
        os.unlink(self.v("evil2"))
        os.unlink(self.v("evil-hl"))
        self.assertEqual(os.listdir(self.src), [])
        self.assertTargetIntact(target)
        self.assertEqual(os.listdir(self.other), [os.path.basename(target)])

    def test_hostile_symlink_to_a_dir(self):
        target = self.make_target()
        os.symlink(self.other, self.s("evildir"))
        self.assertEqual(os.readlink(self.v("evildir")), self.other)
        self.assertErrno(errno.ENOTDIR, os.rmdir, self.v("evildir"))
        # A path through the link is resolved by the kernel for the caller, exactly as a plain
        # symlink: the absolute text leads to the host path, so the file is made there by host
        # root, directly, as 0:0, and not by the view (which would have owned it base:base),
        # and nothing is made in the dir.
        vroot = os.open(self.mnt, os.O_RDONLY | os.O_DIRECTORY)
        self.fds.append(vroot)
        fd = os.open("evildir/x", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600, dir_fd=vroot)
        os.close(fd)
        self.assertOwner(os.path.join(self.other, "x"), 0, 0)
        os.unlink(os.path.join(self.other, "x"))
        self.assertEqual(os.listdir(self.src), ["evildir"])
        self.assertTrue(stat.S_ISLNK(os.lstat(self.s("evildir")).st_mode))
        # Operations on the link itself.
        os.chown(self.v("evildir"), 9, 9, follow_symlinks=False)
        self.assertOwner(self.s("evildir"), BASE + 9, BASE + 9)
        self.assertOwner(self.other, 0, 0, follow=True)
        os.rename(self.v("evildir"), self.v("gone"))
        os.unlink(self.v("gone"))
        self.assertEqual(os.listdir(self.src), [])
        self.assertEqual(os.listdir(self.other), [os.path.basename(target)])
        self.assertTargetIntact(target)

    def test_dir_swapped_for_a_symlink_under_an_open_dirfd(self):
        # The server holds an fd per inode and works relative to it: a directory the caller
        # has open keeps meaning that directory after the container renames it and puts a
        # symlink to the host in its place.
        os.mkdir(self.s("sub"))
        os.chown(self.s("sub"), BASE, BASE)
        dfd = os.open(self.v("sub"), os.O_RDONLY | os.O_DIRECTORY)
        self.fds.append(dfd)
        os.rename(self.s("sub"), self.s("sub-moved"))
        os.symlink(self.other, self.s("sub"))
        fd = os.open("x", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644, dir_fd=dfd)
        os.write(fd, b"in the dir")
        os.close(fd)
        os.mkdir("d", dir_fd=dfd)
        os.symlink("/etc", "l", dir_fd=dfd)
        self.assertEqual(sorted(os.listdir(self.other)), [])
        self.assertEqual(sorted(os.listdir(self.s("sub-moved"))), ["d", "l", "x"])
        self.assertEqual(content(self.s("sub-moved", "x")), b"in the dir")
        for name in ("x", "d", "l"):
            self.assertOwner(self.s("sub-moved", name), BASE, BASE)
        self.assertEqual(sorted(os.listdir(dfd)), ["d", "l", "x"])
        # A fresh lookup of the name, once the kernel's entry expired, sees the symlink.
        time.sleep(CACHE_WINDOW)
        self.assertEqual(os.readlink(self.v("sub")), self.other)

    # ---- 7. the other operations ----

    def test_rename_link_unlink_rmdir(self):
        write(self.s("f"), b"data")
        os.chown(self.s("f"), BASE + 1, BASE + 1)
        os.rename(self.v("f"), self.v("g"))
        self.assertFalse(os.path.exists(self.s("f")))
        self.assertEqual(content(self.s("g")), b"data")
        self.assertOwner(self.s("g"), BASE + 1, BASE + 1)
        os.mkdir(self.s("d"))
        os.rename(self.v("g"), self.v("d", "g"))  # across directories
        self.assertEqual(content(self.s("d", "g")), b"data")
        write(self.s("other"), b"replaced")
        os.replace(self.v("d", "g"), self.v("other"))  # over an existing file
        self.assertEqual(content(self.s("other")), b"data")
        self.assertEqual(os.listdir(self.s("d")), [])
        # Hard link.
        os.link(self.v("other"), self.v("hl"))
        a, b = os.stat(self.v("other")), os.stat(self.v("hl"))
        self.assertEqual((a.st_nlink, b.st_nlink), (2, 2))
        self.assertEqual(a.st_ino, b.st_ino)
        self.assertEqual(os.stat(self.s("hl")).st_ino, os.stat(self.s("other")).st_ino)
        self.assertEqual(os.stat(self.s("other")).st_nlink, 2)
        os.unlink(self.v("hl"))
        self.assertFalse(os.path.exists(self.s("hl")))
        self.assertEqual(os.stat(self.v("other")).st_nlink, 1)
        # rmdir.
        os.mkdir(self.s("full"))
        write(self.s("full", "x"), b"")
        self.assertErrno(errno.ENOTEMPTY, os.rmdir, self.v("full"))
        self.assertErrno(errno.ENOTDIR, os.rmdir, self.v("other"))
        os.rmdir(self.v("d"))
        self.assertFalse(os.path.exists(self.s("d")))
        self.assertErrno(errno.ENOENT, os.stat, self.v("d"))

    def test_truncate_write_read(self):
        write(self.s("f"), b"0123456789")
        os.truncate(self.v("f"), 3)
        self.assertEqual(content(self.s("f")), b"012")
        with open(self.v("f"), "r+b") as f:
            f.truncate(100)
            f.seek(50)
            f.write(b"mid")
        self.assertEqual(os.stat(self.s("f")).st_size, 100)
        self.assertEqual(content(self.s("f"))[50:53], b"mid")
        with open(self.v("f"), "wb") as f:  # O_TRUNC on an existing file
            pass
        self.assertEqual(os.stat(self.s("f")).st_size, 0)
        big = os.urandom(3 * 1024 * 1024 + 17)
        with open(self.v("big"), "wb") as f:
            f.write(big)
        self.assertEqual(content(self.s("big")), big)
        self.assertEqual(content(self.v("big")), big)
        with open(self.v("big"), "ab") as f:
            f.write(b"tail")
        self.assertEqual(content(self.s("big"))[-4:], b"tail")

    def test_utime_and_chmod(self):
        write(self.s("f"), b"x")
        os.utime(self.s("f"), ns=(1, 2))
        os.symlink("f", self.s("l"))
        os.utime(self.v("l"), ns=(111 * 10**9, 222 * 10**9), follow_symlinks=False)
        self.assertEqual(os.lstat(self.s("l")).st_mtime_ns, 222 * 10**9)
        self.assertEqual(os.lstat(self.s("l")).st_atime_ns, 111 * 10**9)
        self.assertEqual(os.stat(self.s("f")).st_mtime_ns, 2)
        os.utime(self.v("f"), ns=(333 * 10**9, 444 * 10**9))
        self.assertEqual(os.stat(self.s("f")).st_mtime_ns, 444 * 10**9)
        os.chmod(self.v("f"), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.s("f")).st_mode), 0o600)

    def test_user_xattrs_round_trip(self):
        write(self.s("f"), b"x")
        os.mkdir(self.s("d"))
        for p in ("f", "d"):
            value = os.urandom(300)
            os.setxattr(self.v(p), "user.sv-test", value)
            self.assertEqual(os.getxattr(self.s(p), "user.sv-test"), value)
            self.assertEqual(os.getxattr(self.v(p), "user.sv-test"), value)
            self.assertIn("user.sv-test", os.listxattr(self.v(p)))
            self.assertErrno(errno.EEXIST, os.setxattr, self.v(p), "user.sv-test", b"y",
                             os.XATTR_CREATE)
            os.removexattr(self.v(p), "user.sv-test")
            self.assertErrno(errno.ENODATA, os.getxattr, self.s(p), "user.sv-test")
            self.assertErrno(errno.ENODATA, os.getxattr, self.v(p), "user.sv-test")

    def test_readdir_2000_entries(self):
        os.mkdir(self.s("big"))
        names = {f"entry-{i:04d}-" + "n" * (i % 200) for i in range(2000)}
        for n in names:
            with open(self.s("big", n), "w"):
                pass
        got = os.listdir(self.v("big"))
        self.assertEqual(len(got), 2000)
        self.assertEqual(set(got), names)
        with os.scandir(self.v("big")) as it:
            self.assertEqual({e.name for e in it if e.is_file(follow_symlinks=False)}, names)

    # ---- 8. changes made directly in the dir ----

    def test_direct_changes_seen_by_the_next_call(self):
        # The view's replies are reused for one jiffy at most (entry and attribute timeouts of
        # 1 ms): a change the container makes is seen by any call made after that window.
        settle = lambda: time.sleep(CACHE_WINDOW)  # noqa: E731
        write(self.s("c"), b"hello")
        self.assertEqual(os.stat(self.v("c")).st_size, 5)
        self.assertEqual(content(self.v("c")), b"hello")
        with open(self.s("c"), "ab") as f:
            f.write(b", world")
        settle()
        self.assertEqual(os.stat(self.v("c")).st_size, 12)
        self.assertEqual(content(self.v("c")), b"hello, world")
        with open(self.s("c"), "r+b") as f:  # same size, new bytes
            f.write(b"HELLO")
        settle()
        self.assertEqual(content(self.v("c")), b"HELLO, world")
        os.chown(self.s("c"), BASE + 42, BASE + 43)
        settle()
        self.assertOwner(self.v("c"), 42, 43)
        os.chown(self.s("c"), 9, 9)
        settle()
        self.assertOwner(self.v("c"), 9, 9)
        os.chmod(self.s("c"), 0o604)
        settle()
        self.assertEqual(stat.S_IMODE(os.stat(self.v("c")).st_mode), 0o604)
        # Names appear, go and change type.
        write(self.s("new"), b"n")
        settle()
        self.assertIn("new", os.listdir(self.mnt))
        self.assertEqual(content(self.v("new")), b"n")
        os.unlink(self.s("new"))
        settle()
        self.assertErrno(errno.ENOENT, os.stat, self.v("new"))
        os.mkdir(self.s("new"))
        settle()
        self.assertTrue(stat.S_ISDIR(os.stat(self.v("new")).st_mode))
        # A file held open through the view sees the change too.
        with open(self.v("c"), "rb") as f:
            with open(self.s("c"), "ab") as g:
                g.write(b"!")
            settle()
            self.assertEqual(os.fstat(f.fileno()).st_size, 13)
            self.assertEqual(f.read(), b"HELLO, world!")

    def test_a_file_deleted_directly_is_let_go(self):
        # The kernel may keep a name the engine looked up long after the container deleted the
        # file; the server lets go of such files at its next sweep, so their blocks are freed.
        write(self.s("big"), b"x" * (1 << 20))
        os.stat(self.v("big"))
        with open(self.v("big"), "rb") as f:
            self.assertEqual(len(f.read()), 1 << 20)
        os.unlink(self.s("big"))

        def held():
            d = f"/proc/{self.proc.pid}/fd"
            found = []
            for fd in os.listdir(d):
                try:
                    found.append(os.readlink(os.path.join(d, fd)))
                except OSError:
                    pass
            return [t for t in found if t.endswith("big (deleted)")]

        deadline = time.monotonic() + SWEEP_SECONDS + 5
        while held() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(held(), [])
        self.assertErrno(errno.ENOENT, os.stat, self.v("big"))

    # ---- 9. the mount and the server ----

    def test_mount_is_roots_only_nosuid_nodev(self):
        (opts, fstype, source, superopts), = view_mounts(self.mnt)
        self.assertEqual((fstype, source), ("fuse", SOURCE))
        self.assertIn("nosuid", opts.split(","))
        self.assertIn("nodev", opts.split(","))
        self.assertIn("user_id=0", superopts.split(","))
        self.assertIn("default_permissions", superopts.split(","))
        self.assertNotIn("allow_other", superopts.split(","))
        os.chmod(self.tmp, 0o755)

        def as_nobody(path):  # the errno text stat(1) prints, or "" when it succeeds
            r = sh("stat", "-c", "%u", path, check=False, user=65534, group=65534,
                   extra_groups=[], env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
            return "" if r.returncode == 0 else r.stderr.strip().rsplit(": ", 1)[-1]
        self.assertEqual(as_nobody(self.src), "")  # the dir itself is readable by anyone
        self.assertEqual(as_nobody(self.mnt), os.strerror(errno.EACCES))

    def test_unmount_ends_the_server_with_status_0(self):
        with open(self.v("f"), "w") as f:
            f.write("x")
        os.listdir(self.mnt)
        sh("umount", self.mnt)
        self.assertEqual(self.proc.wait(timeout=5), 0, read(self.errf))
        self.assertFalse(self.mounted())
        self.assertEqual(content(self.s("f")), b"x")


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    print(f"\n== test_idview: ran {res.testsRun}, failures {len(res.failures)}, "
          f"errors {len(res.errors)}, skipped {len(res.skipped)}")
    for test, reason in res.skipped:
        print(f"   skipped {test.id()}: {reason}")
    sys.exit(0 if res.wasSuccessful() and not res.skipped else 1)
