#!/usr/bin/env python3
"""Security properties: state dir permissions, fd hygiene, /proc/<init>/exe, hostile ids,
device access."""

import errno
import os
import stat

import svtest
from svtest import ContainerTest, parse_kv, read_text, sysvisor_only


class StateDir(ContainerTest):
    def test_root_dir_created_0700(self):
        root = os.path.join(self.tmp, "new", "root")
        b = self.bundle()
        cid = self.new_id()
        r = self.runc("create", "--bundle", b.path, cid, root=root)
        self.assertEqual(r.rc, 0, r)
        try:
            self.assertEqual(stat.S_IMODE(os.stat(root).st_mode), 0o700)
        finally:
            self.runc("delete", "--force", cid, root=root)

    def test_state_files_private(self):
        b = self.bundle()
        cid, _ = self.create(b)
        d = os.path.join(self.root, cid)
        self.assertTrue(os.path.isdir(d))
        st = os.stat(d)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode) & 0o022), (0, 0),
                         "state dir must be owned by root and not writable by others")
        for name in os.listdir(d):
            p = os.path.join(d, name)
            m = os.lstat(p).st_mode
            if stat.S_ISREG(m):
                self.assertEqual(stat.S_IMODE(m) & 0o077, 0, f"{p} must be private")

    @sysvisor_only("runc 1.1.5 creates <root>/<id> with mode 0711")
    def test_state_dir_0700(self):
        b = self.bundle()
        cid, _ = self.create(b)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.root, cid)).st_mode), 0o700)


class Fds(ContainerTest):
    def fds(self, text):
        return dict(l.split(" ", 1) for l in text.splitlines() if l.strip())

    def test_no_runtime_fds_in_container_run(self):
        r = self.probe("fds")
        fds = self.fds(r.out)
        self.assertEqual(sorted(int(k) for k in fds), [0, 1, 2], fds)

    def test_no_runtime_fds_after_create_start(self):
        b = self.bundle(args=["/probe", "fds"])
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, stdout=out)
        self.start(cid)
        self.wait_status(cid, "stopped")
        fds = self.fds(read_text(out))
        self.assertEqual(sorted(int(k) for k in fds), [0, 1, 2], fds)
        # The three are exactly the caller's stdio, nothing the runtime opened itself.
        self.assertEqual(fds, {"0": "/dev/null", "1": out, "2": "/dev/null"})

    def test_cwd_is_inside_container(self):
        # A leaked host directory fd used as cwd would make getcwd fail or show a host path.
        r = self.probe("cwd", mutate=lambda s: s["process"].update(cwd="/tmp"))
        self.assertEqual(r.out.strip(), "/tmp")
        self.assertEqual(self.probe("readlink", "/proc/self/cwd",
                                    mutate=lambda s: s["process"].update(cwd="/tmp")).out.strip(),
                         "/tmp")


class InitExe(ContainerTest):
    @sysvisor_only("protection of the runtime binary while the init waits for start")
    def test_created_init_exe_not_writable_runtime(self):
        b = self.bundle()
        cid, _ = self.create(b)
        pid = self.state(cid)["pid"]
        exe = f"/proc/{pid}/exe"
        runtime = os.stat(os.path.realpath(svtest.RUNC))
        target = os.stat(exe)
        if (target.st_dev, target.st_ino) != (runtime.st_dev, runtime.st_ino):
            return  # a sealed copy (memfd) or another binary: nothing to overwrite
        with self.assertRaises(OSError) as ctx:
            fd = os.open(exe, os.O_WRONLY)
            os.close(fd)
        self.assertEqual(ctx.exception.errno, errno.ETXTBSY)

    def test_started_exe_is_container_binary(self):
        b = self.bundle(args=["/probe", "sleep", "30"])
        cid = self.run_detached(b)
        pid = self.state(cid)["pid"]
        probe = os.stat(os.path.join(b.rootfs, "probe"))
        target = os.stat(f"/proc/{pid}/exe")
        self.assertEqual((target.st_dev, target.st_ino), (probe.st_dev, probe.st_ino))


class HostileIds(ContainerTest):
    def test_traversal_id_does_not_escape_root(self):
        b = self.bundle()
        parent = os.path.dirname(self.root)
        name = f"svit-escape-{os.getpid()}"
        r = self.runc("create", "--bundle", b.path, f"../{name}")
        self.assertNotEqual(r.rc, 0, r)
        self.assertFalse(os.path.exists(os.path.join(parent, name)))
        self.check_clean()

    def test_traversal_delete_does_not_touch_outside(self):
        victim = os.path.join(self.tmp, "victim")
        os.makedirs(victim)
        with open(os.path.join(victim, "state.json"), "w") as f:
            f.write("{}")
        rel = os.path.relpath(victim, self.root)
        for cmd in (["delete", "--force", rel], ["delete", rel], ["state", rel],
                    ["kill", rel, "KILL"]):
            r = self.runc(*cmd)
            if cmd[:2] != ["delete", "--force"]:  # runc's force-delete of a non-id is a no-op
                self.assertNotEqual(r.rc, 0, r)
            self.assertTrue(os.path.isfile(os.path.join(victim, "state.json")),
                            f"{cmd} touched a path outside --root")

    def test_bad_characters_rejected(self):
        b = self.bundle()
        for cid in ("svit/x", "svit\nx", "svit x", "svit;x", "svit$x", "..", "."):
            r = self.runc("create", "--bundle", b.path, cid)
            self.assertNotEqual(r.rc, 0, f"id {cid!r} accepted: {r!r}")
        self.check_clean()

    def test_valid_id_characters(self):
        b = self.bundle()
        cid = self.new_id("Ok_1.2+3")
        r = self.runc("create", "--bundle", b.path, cid)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.state(cid)["id"], cid)


class Devices(ContainerTest):
    def test_no_mknod_without_capability(self):
        r = self.probe("mknod-test", expect_rc=None)
        self.assertEqual(r.kv["mknod"], str(errno.EPERM), r)

    def test_device_cgroup_denies_unlisted_device(self):
        # With CAP_MKNOD the node can be made, but the default spec's device rules
        # (deny all, allow the standard devices) must refuse opening a disk.
        def mutate(s):
            for k in ("bounding", "effective", "permitted"):
                s["process"]["capabilities"][k].append("CAP_MKNOD")
        b = self.bundle(args=["sh", "-c", "/probe mknod-test /tmp/disk b 8 0; echo ---; "
                              "/probe mknod-test /tmp/null c 1 3"], mutate=mutate)
        r = self.run_container(b)
        disk, null = [parse_kv(c) for c in r.out.split("---\n")]
        self.assertEqual(disk.get("mknod"), "0", r)
        self.assertEqual(disk.get("open"), str(errno.EPERM), "device cgroup must deny 8:0")
        self.assertEqual((null.get("mknod"), null.get("open")), ("0", "0"), r)

    def test_host_devices_absent(self):
        r = self.probe("ls", "/dev")
        for name in os.listdir("/dev"):
            if name.startswith(("vd", "sd", "nvme", "loop", "kvm", "mem")):
                self.assertNotIn(name, r.out.split())


if __name__ == "__main__":
    svtest.main()
