#!/usr/bin/env python3
"""Mounts, the rootfs, masked/readonly paths and /dev, observed through /probe."""

import errno
import os
import shutil
import subprocess
import tempfile

import svtest
from svtest import ContainerTest, find_mount, mountinfo, parse_kv, read_text, sysvisor_only


class MountTest(ContainerTest):
    def host_dir(self, name="src", files=None):
        """A host directory outside the bundles (so leak checks ignore it), removed at
        teardown after unmounting anything the test mounted in it."""
        base = tempfile.mkdtemp(prefix="svit-host-")
        os.chmod(base, 0o755)
        self.host_cleanup.append(lambda: self._remove_host(base))
        d = os.path.join(base, name)
        os.makedirs(d)
        os.chmod(d, 0o755)
        for rel, text in (files or {}).items():
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        return d

    def _remove_host(self, base):
        mps = [r["mountpoint"] for r in mountinfo() if r["mountpoint"].startswith(base + "/")]
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        if not any(r["mountpoint"].startswith(base + "/") for r in mountinfo()):
            shutil.rmtree(base, ignore_errors=True)

    def mounts_of(self, b):
        """Runs /probe mounts in bundle b and returns the parsed container mountinfo."""
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        return mountinfo(r.out)

    def mount_at(self, b, mountpoint):
        b.set_args("/probe", "mounts")
        m = find_mount(self.mounts_of(b), mountpoint)
        self.assertIsNotNone(m, f"nothing mounted at {mountpoint}")
        return m


class Bind(MountTest):
    def test_bind_rw(self):
        src = self.host_dir(files={"hello": "from-host"})
        b = self.bundle(args=["sh", "-c", "/probe cat /mnt/x/hello && /probe write /mnt/x/new ok"])
        b.add_mount("/mnt/x", "bind", src, ["bind"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("from-host", r.out)
        self.assertEqual(read_text(os.path.join(src, "new")), "ok")

    def test_bind_ro_write_fails_erofs(self):
        src = self.host_dir(files={"hello": "from-host"})
        b = self.bundle(args=["/probe", "write", "/mnt/x/new", "no"])
        b.add_mount("/mnt/x", "bind", src, ["bind", "ro"])
        r = self.run_container(b)
        self.assertEqual(r.rc, errno.EROFS, r)
        self.assertFalse(os.path.exists(os.path.join(src, "new")))
        m = self.mount_at(b, "/mnt/x")
        self.assertIn("ro", m["opts"])

    def test_bind_file(self):
        src = self.host_dir(files={"f": "file-bind"})
        b = self.bundle(args=["/probe", "cat", "/etc/bound"])
        b.add_mount("/etc/bound", "bind", os.path.join(src, "f"), ["bind", "ro"])
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out), (0, "file-bind"), r)

    def _submount(self):
        src = self.host_dir()
        sub = os.path.join(src, "sub")
        os.makedirs(sub)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "svit-sub", sub], check=True)
        with open(os.path.join(sub, "inner"), "w") as f:
            f.write("in-submount")
        return src

    def test_rbind_includes_submounts(self):
        src = self._submount()
        b = self.bundle(args=["/probe", "cat", "/mnt/x/sub/inner"])
        b.add_mount("/mnt/x", "bind", src, ["rbind"])
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out), (0, "in-submount"), r)

    def test_bind_is_not_recursive(self):
        src = self._submount()
        b = self.bundle(args=["/probe", "ls", "/mnt/x/sub"])
        b.add_mount("/mnt/x", "bind", src, ["bind"])
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out), (0, ""), "plain bind must not carry submounts")

    def test_bind_flags_in_mountinfo(self):
        src = self.host_dir()
        b = self.bundle()
        b.add_mount("/mnt/x", "bind", src, ["bind", "nosuid", "nodev", "noexec", "ro"])
        m = self.mount_at(b, "/mnt/x")
        for opt in ("nosuid", "nodev", "noexec", "ro"):
            self.assertIn(opt, m["opts"])


def has_opt(optional, prefix):
    return any(o.startswith(prefix) for o in optional)


class Propagation(MountTest):
    def _prop(self, flag):
        # The source is a shared mount on the host so slave/shared have a peer group.
        src = self.host_dir()
        subprocess.run(["mount", "--bind", src, src], check=True)
        subprocess.run(["mount", "--make-shared", src], check=True)
        b = self.bundle()
        b.add_mount("/mnt/x", "bind", src, ["rbind", flag])
        return self.mount_at(b, "/mnt/x")["optional"]

    def test_rshared(self):
        opt = self._prop("rshared")
        self.assertTrue(has_opt(opt, "shared:"), opt)

    def test_rslave(self):
        opt = self._prop("rslave")
        self.assertTrue(has_opt(opt, "master:"), opt)
        self.assertFalse(has_opt(opt, "shared:"), opt)

    def test_rprivate(self):
        opt = self._prop("rprivate")
        self.assertFalse(has_opt(opt, "shared:") or has_opt(opt, "master:"), opt)

    def _root_optional(self, prop):
        self.share_tmp()

        def mutate(s):
            if prop:
                s["linux"]["rootfsPropagation"] = prop
        b = self.bundle(args=["/probe", "mounts"], mutate=mutate)
        return find_mount(self.mounts_of(b), "/")["optional"]

    def test_rootfs_propagation_default_is_rslave(self):
        opt = self._root_optional(None)
        self.assertTrue(has_opt(opt, "master:"), opt)

    def test_rootfs_propagation_rslave(self):
        opt = self._root_optional("rslave")
        self.assertTrue(has_opt(opt, "master:"), opt)

    def test_rootfs_propagation_rprivate(self):
        opt = self._root_optional("rprivate")
        self.assertFalse(has_opt(opt, "shared:") or has_opt(opt, "master:"), opt)

    def test_container_mounts_do_not_reach_host(self):
        # The bundle dir is shared on the host; the container's own mounts (proc, dev, ...)
        # must still not propagate back under it (tearDown's leak check verifies too).
        self.share_tmp()
        for prop in (None, "rslave", "rprivate"):
            def mutate(s, p=prop):
                if p:
                    s["linux"]["rootfsPropagation"] = p
            b = self.bundle(args=["/probe", "mounts"], name=f"b-{prop}", mutate=mutate)
            self.assertIsNotNone(find_mount(self.mounts_of(b), "/proc"))
            leaked = [r["mountpoint"] for r in mountinfo()
                      if self.tmp in r["mountpoint"] and r["mountpoint"] != self.tmp]
            self.assertEqual(leaked, [], f"rootfsPropagation={prop}")


class Filesystems(MountTest):
    def test_tmpfs_options(self):
        b = self.bundle(args=["sh", "-c", "/probe stat /mnt/t; /probe mounts"])
        b.add_mount("/mnt/t", "tmpfs", "tmpfs",
                    ["size=1m", "mode=0700", "nosuid", "nodev", "noexec"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        kv = parse_kv(r.out)
        self.assertEqual((kv["type"], kv["mode"]), ("dir", "0700"))
        m = find_mount(mountinfo(r.out), "/mnt/t")
        self.assertEqual(m["fstype"], "tmpfs")
        self.assertIn("size=1024k", m["super"])
        self.assertIn("mode=700", m["super"])
        for opt in ("nosuid", "nodev", "noexec"):
            self.assertIn(opt, m["opts"])

    def test_tmpfs_ro(self):
        b = self.bundle(args=["/probe", "write", "/mnt/t/x", "y"])
        b.add_mount("/mnt/t", "tmpfs", "tmpfs", ["ro"])
        self.assertEqual(self.run_container(b).rc, errno.EROFS)

    def test_default_spec_filesystems(self):
        b = self.bundle(args=["/probe", "mounts"])
        rows = self.mounts_of(b)
        want = {"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
                "/dev/mqueue": "mqueue", "/sys": "sysfs"}
        for mp, fstype in want.items():
            m = find_mount(rows, mp)
            self.assertIsNotNone(m, mp)
            self.assertEqual(m["fstype"], fstype, mp)
        self.assertIn("ro", find_mount(rows, "/sys")["opts"])
        for opt in ("nosuid", "noexec"):
            self.assertIn(opt, find_mount(rows, "/dev/pts")["opts"])
        dev = find_mount(rows, "/dev")
        self.assertIn("mode=755", dev["super"])
        self.assertIn("nosuid", dev["opts"])
        shm = find_mount(rows, "/dev/shm")
        for opt in ("nosuid", "noexec", "nodev"):
            self.assertIn(opt, shm["opts"])

    def test_cgroup_mount_present(self):
        b = self.bundle(args=["sh", "-c", "/probe mounts; echo ===; /probe ls /sys/fs/cgroup"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        minfo, _, listing = r.out.partition("===\n")
        cg = [m for m in mountinfo(minfo) if m["mountpoint"] == "/sys/fs/cgroup" or
              m["mountpoint"].startswith("/sys/fs/cgroup/")]
        self.assertTrue(cg, "something must be mounted at /sys/fs/cgroup")
        self.assertTrue(all("ro" in m["opts"] for m in cg if m["fstype"] != "tmpfs"), cg)
        self.assertNotEqual(listing.split(), [], "the cgroup mount must not be empty")

    def test_devpts_and_ptmx(self):
        b = self.bundle(args=["sh", "-c", "/probe readlink /dev/ptmx; /probe stat /dev/pts/ptmx"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.splitlines()[0], "pts/ptmx")
        kv = parse_kv(r.out)
        self.assertEqual((kv["type"], kv["rdev"], kv["mode"]), ("chr", "5:2", "0666"))

    def test_dev_shm_writable(self):
        b = self.bundle(args=["sh", "-c", "/probe write /dev/shm/x y && /probe stat /dev/shm"],
                        readonly=True)
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(parse_kv(r.out)["mode"], "1777")

    def test_mqueue(self):
        b = self.bundle()
        m = self.mount_at(b, "/dev/mqueue")
        self.assertEqual(m["fstype"], "mqueue")


class RootFs(MountTest):
    def test_readonly_root(self):
        b = self.bundle(args=["/probe", "write", "/newfile", "x"], readonly=True)
        r = self.run_container(b)
        self.assertEqual(r.rc, errno.EROFS, r)
        self.assertFalse(os.path.exists(os.path.join(b.rootfs, "newfile")))

    def test_readonly_root_in_mountinfo(self):
        b = self.bundle(readonly=True)
        self.assertIn("ro", self.mount_at(b, "/")["opts"])

    def test_writable_root(self):
        b = self.bundle(args=["/probe", "write", "/newfile", "x"], readonly=False)
        self.assertEqual(self.run_container(b).rc, 0)
        self.assertEqual(read_text(os.path.join(b.rootfs, "newfile")), "x")

    def test_root_is_the_bundle_rootfs(self):
        b = self.bundle()
        root = self.mount_at(b, "/")
        self.assertTrue(root["root"].endswith(b.rootfs), root)

    def test_mount_destination_created(self):
        b = self.bundle(args=["/probe", "stat", "/deep/new/dir"])
        b.add_mount("/deep/new/dir", "tmpfs", "tmpfs", [])
        r = self.run_container(b)
        self.assertEqual((r.rc, parse_kv(r.out).get("type")), (0, "dir"), r)


class MaskedReadonly(MountTest):
    def test_default_masked_file(self):
        files = [p for p in svtest.DEFAULT_SPEC["linux"]["maskedPaths"] if os.path.isfile(p)]
        if not files:
            self.skipTest("none of the default masked files exist on this kernel")
        script = "; ".join(f"/probe cat {p}; /probe stat {p}; echo ---" for p in files)
        r = self.run_container(self.bundle(args=["sh", "-c", script]))
        self.assertEqual(r.rc, 0, r)
        chunks = [parse_kv(c) for c in r.out.split("---\n") if c.strip()]
        self.assertEqual(len(chunks), len(files), r)
        for path, kv in zip(files, chunks):
            self.assertEqual((kv["type"], kv["rdev"], kv["size"]), ("chr", "1:3", "0"),
                             f"{path} must be masked by /dev/null")

    def test_default_masked_dir(self):
        if not os.path.isdir("/sys/firmware") or not os.listdir("/sys/firmware"):
            self.skipTest("host /sys/firmware is empty")
        r = self.probe("ls", "/sys/firmware")
        self.assertEqual(r.out, "", "masked directory must be empty")

    def test_custom_masked_paths(self):
        def mutate(s):
            s["linux"]["maskedPaths"] += ["/etc/secret", "/etc/secretdir", "/nonexistent"]
        b = self.bundle(args=["sh", "-c", "/probe cat /etc/secret; echo; /probe ls /etc/secretdir;"
                              " echo =; /probe write /etc/secretdir/x y"], mutate=mutate)
        with open(os.path.join(b.rootfs, "etc", "secret"), "w") as f:
            f.write("TOPSECRET")
        os.makedirs(os.path.join(b.rootfs, "etc", "secretdir"))
        with open(os.path.join(b.rootfs, "etc", "secretdir", "key"), "w") as f:
            f.write("KEY")
        r = self.run_container(b)
        self.assertNotIn("TOPSECRET", r.out)
        self.assertNotIn("key", r.out)
        self.assertEqual(r.out.split("=")[0].strip(), "")
        self.assertEqual(r.rc, errno.EROFS, "masked dir is a read-only tmpfs")

    def test_default_readonly_proc_sys(self):
        r = self.probe("write", "/proc/sys/kernel/hostname", "evil", expect_rc=errno.EROFS)
        self.assertNotEqual(os.uname().nodename, "evil")
        self.assertEqual(r.rc, errno.EROFS)

    def test_default_readonly_paths_in_mountinfo(self):
        paths = [p for p in svtest.DEFAULT_SPEC["linux"]["readonlyPaths"] if os.path.exists(p)]
        rows = self.mounts_of(self.bundle(args=["/probe", "mounts"]))
        for p in paths:
            m = find_mount(rows, p)
            self.assertIsNotNone(m, p)
            self.assertIn("ro", m["opts"], p)

    def test_custom_readonly_path(self):
        def mutate(s):
            s["linux"]["readonlyPaths"].append("/etc/rodir")
        b = self.bundle(args=["/probe", "write", "/etc/rodir/x", "y"], mutate=mutate)
        os.makedirs(os.path.join(b.rootfs, "etc", "rodir"))
        self.assertEqual(self.run_container(b).rc, errno.EROFS)
        self.assertFalse(os.path.exists(os.path.join(b.rootfs, "etc", "rodir", "x")))


class Devices(MountTest):
    DEFAULTS = {"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7",
                "/dev/random": "1:8", "/dev/urandom": "1:9", "/dev/tty": "5:0"}

    def test_default_devices(self):
        script = "; ".join(f"/probe stat {p}; echo ---" for p in self.DEFAULTS)
        r = self.run_container(self.bundle(args=["sh", "-c", script]))
        self.assertEqual(r.rc, 0, r)
        chunks = [parse_kv(c) for c in r.out.split("---\n") if c.strip()]
        self.assertEqual(len(chunks), len(self.DEFAULTS))
        for (path, rdev), kv in zip(self.DEFAULTS.items(), chunks):
            self.assertEqual((kv["type"], kv["rdev"], kv["mode"], kv["uid"]),
                             ("chr", rdev, "0666", "0"), path)

    def test_dev_null_and_zero_work(self):
        b = self.bundle(args=["sh", "-c",
                              "/probe write /dev/null x && head -c 4 /dev/zero | wc -c"])
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out.split()[-1]), (0, "4"), r)

    def test_spec_device(self):
        def mutate(s):
            s["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10,
                                      "minor": 229, "fileMode": 0o640, "uid": 0, "gid": 0}]
        kv = self.probe("stat", "/dev/fuse", mutate=mutate).kv
        self.assertEqual((kv["type"], kv["rdev"], kv["mode"]), ("chr", "10:229", "0640"))

    def test_standard_symlinks(self):
        links = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
                 "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
                 "/dev/ptmx": "pts/ptmx"}
        script = "; ".join(f"/probe readlink {p}" for p in links)
        r = self.run_container(self.bundle(args=["sh", "-c", script]))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.splitlines(), list(links.values()))

    def test_dev_has_no_host_devices(self):
        r = self.probe("ls", "/dev")
        names = set(r.out.split())
        for host_only in ("vda", "sda", "kmsg", "mem", "kvm"):
            self.assertNotIn(host_only, names)
        self.assertTrue({"null", "zero", "pts", "shm"} <= names, names)


class IdmappedMount(MountTest):
    @sysvisor_only("runc 1.1.5 does not support idmapped mounts")
    def test_idmapped_bind(self):
        host_id = 100000
        src = self.host_dir(files={"root-owned": "r", "user-owned": "u"})
        os.chown(os.path.join(src, "user-owned"), 1000, 1000)
        os.chmod(src, 0o777)

        def mutate(s):
            s["linux"]["namespaces"].append({"type": "user"})
            maps = [{"containerID": 0, "hostID": host_id, "size": 65536}]
            s["linux"]["uidMappings"] = maps
            s["linux"]["gidMappings"] = maps
            s["mounts"].append({"destination": "/mnt/id", "type": "bind", "source": src,
                                "options": ["bind"], "uidMappings": maps, "gidMappings": maps})
        b = self.bundle(args=["sh", "-c", "/probe stat /mnt/id/root-owned; echo ---; "
                              "/probe stat /mnt/id/user-owned; echo ---; "
                              "/probe write /mnt/id/made x"], mutate=mutate)
        os.makedirs(os.path.join(b.rootfs, "mnt", "id"))  # container root cannot mkdir there
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        a, u = [parse_kv(c) for c in r.out.split("---\n")[:2]]
        self.assertEqual((a["uid"], a["gid"]), ("0", "0"))
        self.assertEqual((u["uid"], u["gid"]), ("1000", "1000"))
        st = os.stat(os.path.join(src, "made"))
        self.assertEqual((st.st_uid, st.st_gid), (0, 0), "written through the idmap as host 0")


if __name__ == "__main__":
    svtest.main()
