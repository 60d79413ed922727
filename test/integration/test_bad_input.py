#!/usr/bin/env python3
"""Bad input: every failure exits non-zero with a clear message and leaves nothing behind
(no state dir under --root, no mount, no process, no cgroup)."""

import os

import svtest
from svtest import ContainerTest, mountinfo, sysvisor_only


class BadInput(ContainerTest):
    def assertFails(self, r, *words):
        self.assertNotEqual(r.rc, 0, r)
        msg = r.err.lower()
        for w in words:
            self.assertIn(w.lower(), msg, f"error message should mention {w!r}: {r.err!r}")

    def create_fails(self, b, *words, cid=None):
        cid = cid or self.new_id("bad")
        r = self.runc("create", "--bundle", b.path, cid)
        self.assertFails(r, *words)
        self.assertNotEqual(self.runc("state", cid).rc, 0, "no container may exist")
        self.check_clean()
        return r


class Config(BadInput):
    def _malformed(self):
        b = self.bundle()
        with open(b.config, "w") as f:
            f.write('{\n  "ociVersion": "1.0.2",\n  "process": {\n    "args": [1,]\n  }\n}\n')
        return b

    def test_malformed_json(self):
        self.create_fails(self._malformed())

    @sysvisor_only("runc 1.1.5 reports only 'invalid character', no position")
    def test_malformed_json_names_line_and_column(self):
        r = self.create_fails(self._malformed(), "line", "column")
        self.assertIn("4", r.err, "the error is on line 4")

    def test_missing_config(self):
        b = self.bundle()
        os.remove(b.config)
        self.create_fails(b, "config.json")

    def test_missing_rootfs(self):
        b = self.bundle()
        os.rename(b.rootfs, b.rootfs + ".gone")
        self.create_fails(b, "rootfs")

    def test_missing_bundle_dir(self):
        cid = self.new_id("bad")
        missing = os.path.join(self.tmp, "no-such-bundle")
        r = self.runc("create", "--bundle", missing, cid)
        self.assertFails(r, "no-such-bundle")
        self.check_clean()

    def test_missing_process(self):
        b = self.bundle()
        del b.spec["process"]
        b.save()
        self.create_fails(b, "process")

    def test_relative_cwd(self):
        b = self.bundle(mutate=lambda s: s["process"].update(cwd="relative/dir"))
        self.create_fails(b, "cwd")

    def test_unknown_namespace_type(self):
        b = self.bundle(mutate=lambda s: s["linux"]["namespaces"].append({"type": "bogus"}))
        self.create_fails(b, "bogus")

    def test_duplicate_namespace(self):
        b = self.bundle(mutate=lambda s: s["linux"]["namespaces"].append({"type": "network"}))
        self.create_fails(b, "network")

    def test_namespace_path_missing(self):
        def mutate(s):
            s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"]
                                        if n["type"] != "network"]
            s["linux"]["namespaces"].append({"type": "network", "path": "/proc/999999999/ns/net"})
        self.create_fails(self.bundle(mutate=mutate), "/proc/999999999/ns/net")

    def test_hostname_without_uts_namespace(self):
        def mutate(s):
            s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "uts"]
        self.create_fails(self.bundle(mutate=mutate), "hostname", "uts")

    def test_unknown_rlimit(self):
        def mutate(s):
            s["process"]["rlimits"] = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]
        self.create_fails(self.bundle(mutate=mutate), "RLIMIT_BOGUS")

    def test_rlimit_above_the_hard_limit(self):
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        with open("/proc/self/status") as f:
            cap_eff = int(next(l for l in f if l.startswith("CapEff:")).split()[1], 16)

        def mutate(s):
            s["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024,
                                        "hard": hard + 1}]
        if cap_eff & (1 << 24):  # CAP_SYS_RESOURCE: the raise is allowed
            kv = self.probe("rlimits", mutate=mutate).kv
            self.assertEqual(kv["RLIMIT_NOFILE"], f"1024:{hard + 1}")
            return
        # Without it every runtime fails; ours says why and what to ask for.
        words = ["rlimit"] if svtest.IS_REFERENCE else [
            "RLIMIT_NOFILE", "CAP_SYS_RESOURCE", f"at most {hard}"]
        self.create_fails(self.bundle(mutate=mutate), *words)

    def test_sysctl_not_namespaced(self):
        def mutate(s):
            s["linux"]["sysctl"] = {"kernel.bogus_sysctl": "1"}
        self.create_fails(self.bundle(mutate=mutate), "kernel.bogus_sysctl")

    @sysvisor_only("runc 1.1.5 only warns about unknown capabilities and starts the container")
    def test_unknown_capability(self):
        def mutate(s):
            s["process"]["capabilities"]["bounding"].append("CAP_BOGUS")
        self.create_fails(self.bundle(mutate=mutate), "CAP_BOGUS")

    def test_bind_source_missing(self):
        b = self.bundle()
        b.add_mount("/mnt/x", "bind", os.path.join(self.tmp, "no-such-src"), ["bind"])
        self.create_fails(b, "no-such-src")


class Executable(BadInput):
    def test_args0_absolute_missing(self):
        b = self.bundle(args=["/nonexistent-binary", "x"])
        self.create_fails(b, "/nonexistent-binary")

    def test_args0_not_in_path(self):
        b = self.bundle(args=["nonexistent-cmd"])
        self.create_fails(b, "nonexistent-cmd")

    def test_args0_missing_with_run(self):
        b = self.bundle(args=["/nonexistent-binary"])
        cid = self.new_id("bad")
        r = self.runc("run", "--bundle", b.path, cid)
        self.assertFails(r, "/nonexistent-binary")
        self.check_clean()

    def test_args_empty(self):
        b = self.bundle(args=[])
        cid = self.new_id("bad")
        r = self.runc("run", "--bundle", b.path, cid)
        self.assertNotEqual(r.rc, 0, r)
        self.check_clean()


class Ids(BadInput):
    def test_unknown_id(self):
        for cmd in (["state"], ["start"], ["kill"], ["kill", "--all"], ["delete"]):
            r = self.runc(*cmd, "svit-unknown-id")
            self.assertFails(r, "does not exist")
        self.check_clean()

    def test_duplicate_id(self):
        b = self.bundle()
        cid, _ = self.create(b)
        pid = self.state(cid)["pid"]
        b2 = self.bundle(name="b2")
        r = self.runc("create", "--bundle", b2.path, cid)
        self.assertFails(r, "already exists")
        st = self.state(cid)
        self.assertEqual((st["pid"], st["bundle"], st["status"]), (pid, b.path, "created"),
                         "the original container must be untouched")
        self.check_clean(allow=[cid])

    def _bad_id(self, cid, *words):
        b = self.bundle()
        r = self.runc("create", "--bundle", b.path, cid)
        self.assertFails(r, *words)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.root), "x")))
        self.check_clean()

    def test_id_dotdot(self):
        self._bad_id("../x", "invalid")

    def test_id_slash(self):
        self._bad_id("a/b", "invalid")

    def test_id_dot(self):
        self._bad_id("..", "invalid")

    def test_id_space(self):
        self._bad_id("svit bad", "invalid")

    def test_id_empty(self):
        self._bad_id("", "empty")

    def test_id_too_long(self):
        self._bad_id("svit-" + "a" * 1100)


class Paths(BadInput):
    def test_relative_root_is_accepted(self):
        # runc resolves a relative --root against its cwd.
        b = self.bundle()
        cid = self.new_id()
        r = self.runc("create", "--bundle", b.path, cid, root="relroot", cwd=self.tmp)
        self.assertEqual(r.rc, 0, r)
        try:
            self.assertTrue(os.path.isdir(os.path.join(self.tmp, "relroot", cid)))
            self.assertEqual(self.runc("state", cid, root="relroot", cwd=self.tmp).rc, 0)
        finally:
            self.assertEqual(self.runc("delete", "--force", cid, root="relroot",
                                       cwd=self.tmp).rc, 0)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "relroot")), [])

    def test_mount_through_symlink_stays_in_rootfs(self):
        host_etc = {r["mountpoint"] for r in mountinfo()}
        etc_listing = sorted(os.listdir("/etc"))
        b = self.bundle(args=["/probe", "mounts"])
        os.symlink("/etc", os.path.join(b.rootfs, "evil"))
        b.add_mount("/evil", "tmpfs", "tmpfs", ["size=1m"])
        cid = self.new_id()
        r = self.runc("run", "--bundle", b.path, cid)
        # Host /etc must never get the mount, whether or not the runtime accepts the config.
        self.assertEqual({r2["mountpoint"] for r2 in mountinfo()} - host_etc, set())
        self.assertEqual(sorted(os.listdir("/etc")), etc_listing)
        if r.rc == 0:
            inside = svtest.find_mount(mountinfo(r.out), "/etc")
            self.assertIsNotNone(inside, "runc resolves /evil inside the rootfs: /etc")
            self.assertEqual(inside["fstype"], "tmpfs")
        else:
            self.assertIn("evil", r.err)
        self.check_clean()

    def test_mount_dotdot_destination_stays_in_rootfs(self):
        escape = os.path.join(self.tmp, "escape-target")
        os.makedirs(escape)
        b = self.bundle(args=["/probe", "mounts"])
        dest = "/../../../../../../.." + escape
        b.add_mount(dest, "tmpfs", "tmpfs", ["size=1m"])
        r = self.runc("run", "--bundle", b.path, self.new_id())
        self.assertIsNone(svtest.find_mount(mountinfo(), escape), "mount escaped the rootfs")
        if r.rc == 0:
            self.assertIsNotNone(svtest.find_mount(mountinfo(r.out), escape),
                                 "'..' is clamped at the container root")
        self.check_clean()


if __name__ == "__main__":
    svtest.main()
