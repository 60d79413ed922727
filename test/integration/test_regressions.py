#!/usr/bin/env python3
"""Regression tests for bugs fixed in sysvisor: --preserve-fds validation, a `create` killed
part-way, shared cgroupsPath, cgroupsPath "/", `kill --all` after the init exited, signal 0,
large argv/env, recursive read-only binds and mount destinations that are dangling symlinks.

Each test fails if the corresponding behaviour regresses."""

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

import svtest
from svtest import ContainerTest, mountinfo, parse_kv, sysvisor_only

CGROUP_ROOT = "/sys/fs/cgroup"
DEAD = (None, "Z", "X")


# --------------------------------------------------------------------------------------------
# Helpers local to this file


def cgroup_dirs_named(name, max_depth=4):
    """Directories named `name` under /sys/fs/cgroup/<hierarchy>/, at most max_depth levels
    below the hierarchy root (so /sys/fs/cgroup/memory/<a>/<b>/<name> is found too)."""
    found = []
    try:
        hierarchies = sorted(os.listdir(CGROUP_ROOT))
    except OSError:
        return found
    for h in hierarchies:
        top = os.path.join(CGROUP_ROOT, h)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        if h == name:
            found.append(top)
        stack = [(top, 0)]
        while stack:
            d, depth = stack.pop()
            if depth >= max_depth:
                continue
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                try:
                    if not e.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                if e.name == name:
                    found.append(e.path)
                stack.append((e.path, depth + 1))
    return sorted(found)


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def live_pids():
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        if svtest.proc_state(pid) in DEAD:
            continue
        yield pid


def procs_of(cid=None, exe_ident=None):
    """Live processes whose cmdline or cgroup mentions `cid`, or whose executable is the file
    identified by exe_ident (st_dev, st_ino). Returns [(pid, why, cmdline)]."""
    hits = []
    # The id as a whole word: svit-x-1 must not match svit-x-12.
    needle = re.compile(rb"(?<![\w.+-])" + re.escape(cid.encode()) + rb"(?![\w.+-])") \
        if cid else None
    for pid in live_pids():
        cmd = _read_bytes(f"/proc/{pid}/cmdline")
        if cmd is None:
            continue
        why = None
        if needle and needle.search(cmd):
            why = "cmdline"
        if why is None and needle:
            cg = _read_bytes(f"/proc/{pid}/cgroup")
            if cg and needle.search(cg):
                why = "cgroup"
        if why is None and exe_ident:
            try:
                st = os.stat(f"/proc/{pid}/exe")
                if (st.st_dev, st.st_ino) == exe_ident:
                    why = "exe"
            except OSError:
                pass
        if why and svtest.proc_state(pid) not in DEAD:
            hits.append((pid, why, cmd.replace(b"\0", b" ").decode(errors="replace")))
    return hits


def wait_dead(pid, timeout=5):
    deadline = time.monotonic() + timeout
    while svtest.proc_state(pid) not in DEAD and time.monotonic() < deadline:
        time.sleep(0.02)
    return svtest.proc_state(pid) in DEAD


def fd_numbers(text):
    return [int(l.split()[0]) for l in text.splitlines() if l.strip()]


class RegressionTest(ContainerTest):
    def poll(self, fn, timeout=5, interval=0.05):
        """Calls fn until it returns a falsy value or the timeout passes; returns the last."""
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if not v or time.monotonic() > deadline:
                return v
            time.sleep(interval)


# --------------------------------------------------------------------------------------------
# 1. --preserve-fds validation


class PreserveFds(RegressionTest):
    @sysvisor_only("runc 1.1.5 accepts --preserve-fds beyond the caller's open fds")
    def test_preserve_fds_beyond_open_fds_fails(self):
        # run_argv spawns with close_fds=True and stdio on files: only fds 0-2 are open.
        b = self.bundle(args=["/probe", "fds"])
        cid = self.new_id("pfd")
        r = self.runc("create", "--bundle", b.path, "--preserve-fds", "3", cid)
        self.assertNotEqual(r.rc, 0, f"--preserve-fds 3 with only 0-2 open accepted: {r!r}")
        self.assertIn("preserve-fds", r.err, r)
        self.assertIn("not open", r.err, r)
        self.check_clean()

    @sysvisor_only("runc 1.1.5 accepts a negative --preserve-fds")
    def test_preserve_fds_negative_fails(self):
        b = self.bundle(args=["/probe", "fds"])
        cid = self.new_id("pfd")
        r = self.runc("create", "--bundle", b.path, "--preserve-fds", "-1", cid)
        self.assertNotEqual(r.rc, 0, f"--preserve-fds -1 accepted: {r!r}")
        self.assertIn("negative", r.err, r)
        self.check_clean()

    def test_preserve_two_open_fds(self):
        data = os.path.join(self.tmp, "data")
        with open(data, "w") as f:
            f.write("x")
        b = self.bundle(args=["/probe", "fds"])
        cid = self.new_id("pfd")
        # The shell (started with only 0-2 open) opens fds 3 and 4 and execs the runtime.
        argv = ["sh", "-c", 'exec 3<"$0" 4<"$0"; exec "$@"', data, svtest.RUNC,
                *svtest.GLOBAL_ARGS, "--root", self.root, "run", "--bundle", b.path,
                "--preserve-fds", "2", cid]
        r = svtest.run_argv(argv)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(fd_numbers(r.out), [0, 1, 2, 3, 4], r.out)
        fds = dict(l.split(" ", 1) for l in r.out.splitlines() if l.strip())
        self.assertEqual((fds["3"], fds["4"]), (data, data), fds)
        self.check_clean()


# --------------------------------------------------------------------------------------------
# 2. create killed with SIGKILL part-way


class KilledCreate(RegressionTest):
    # Kill delays in ms, 0-15: dense over the first milliseconds, where the runtime creates
    # its state dir and cgroups (on a fast machine ~1-3 ms after exec), sparser afterwards.
    DELAYS_MS = [0.25 * k for k in range(17)] + [5, 6, 7, 8, 10, 12, 14, 15]
    STAGE_REPEATS = 3

    def _stages(self, root, cid):
        """Conditions the runtime passes through during create; the kill lands right after."""
        def tmp_state_dir():
            try:
                return any(n.startswith(".") for n in os.listdir(root))
            except OSError:
                return False
        return [
            ("temporary state dir", tmp_state_dir),
            ("state dir", lambda: os.path.isdir(os.path.join(root, cid))),
            ("cgroup dir", lambda: bool(cgroup_dirs_named(cid, max_depth=3))),
            ("state.json", lambda: os.path.exists(os.path.join(root, cid, "state.json"))),
            ("a process in the cgroup", lambda: any(
                (_read_bytes(os.path.join(d, "cgroup.procs")) or b"").strip()
                for d in cgroup_dirs_named(cid, max_depth=3))),
        ]

    @sysvisor_only("runc 1.1.5 leaves cgroup directories behind after a killed create")
    def test_sigkilled_create_then_force_delete_leaves_nothing(self):
        b = self.bundle(args=["/probe", "sleep", "1000"])
        probe = os.stat(os.path.join(b.rootfs, "probe"))
        probe_ident = (probe.st_dev, probe.st_ino)
        # A private --root: whatever a killed create leaves there stays inside self.tmp and
        # cannot spill into the other tests of this module.
        root = os.path.join(self.tmp, "root")
        os.mkdir(root, 0o700)
        used = []
        self.host_cleanup.append(
            lambda: [self.runc("delete", "--force", c, root=root, timeout=15) for c in used])

        plan = []
        for _ in range(self.STAGE_REPEATS):
            plan += [(f"at {name}", None, name) for name, _ in self._stages(root, "x")]
        plan += [(f"after {d} ms", d, None) for d in self.DELAYS_MS]
        for i, (when, delay, stage) in enumerate(plan):
            cid = self.new_id("kc")
            used.append(cid)
            what = f"iteration {i} (create killed {when})"
            p = self.popen("create", "--bundle", b.path, cid, root=root)
            if stage is None:
                time.sleep(delay / 1000.0)
            else:
                cond = dict(self._stages(root, cid))[stage]
                deadline = time.monotonic() + 5
                while not cond() and p.poll() is None and time.monotonic() < deadline:
                    pass
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
            r = self.runc("delete", "--force", cid, root=root)
            self.assertEqual(r.rc, 0, f"{what}: delete --force: {r!r}")
            # Neither the state dir nor a half-made (temporary) one may stay under --root.
            self.assertEqual(os.listdir(root), [], f"{what}: entries left under --root")
            cgs = self.poll(lambda: cgroup_dirs_named(cid), timeout=3)
            self.assertEqual(cgs, [], f"{what}: cgroups left")
            procs = self.poll(lambda: procs_of(cid, probe_ident), timeout=3)
            self.assertEqual(procs, [], f"{what}: processes left")
        self.check_clean()


# --------------------------------------------------------------------------------------------
# 3 and 4. cgroupsPath


class CgroupsPath(RegressionTest):
    def _set_cgroups_path(self, b, path):
        b.spec["linux"]["cgroupsPath"] = path
        return b.save()

    def test_shared_cgroup_force_delete_keeps_other_container(self):
        shared = f"svit-shared-{uuid.uuid4().hex[:12]}"

        def cleanup():
            for d in sorted(cgroup_dirs_named(shared), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        self.host_cleanup.append(cleanup)

        b1 = self._set_cgroups_path(self.bundle(args=["/probe", "sleep", "1000"]), "/" + shared)
        b2 = self._set_cgroups_path(self.bundle(args=["/probe", "sleep", "1000"]), "/" + shared)
        c1 = self.run_detached(b1)
        c2 = self.run_detached(b2)
        self.assertEqual(self.state(c1)["status"], "running")
        self.assertEqual(self.state(c2)["status"], "running")
        pid1, pid2 = self.state(c1)["pid"], self.state(c2)["pid"]
        self.assertNotEqual(cgroup_dirs_named(shared), [], "the shared cgroup must exist")

        self.runc_ok("delete", "--force", c1)
        self.assertTrue(wait_dead(pid1), "first container's init must die")
        time.sleep(0.3)  # give an over-eager cgroup kill time to reach the second container
        st2 = self.state(c2)
        self.assertEqual(st2["status"], "running", "deleting c1 must not touch c2")
        self.assertEqual(st2["pid"], pid2)
        self.assertIn(svtest.proc_state(pid2), ("S", "R"), "second container's init died")

        self.runc_ok("delete", "--force", c2)
        self.assertTrue(wait_dead(pid2))
        left = self.poll(lambda: cgroup_dirs_named(shared), timeout=5)
        self.assertEqual(left, [], "shared cgroup must be removed with its last container")
        self.check_clean()

    def test_cgroups_path_root_refused(self):
        b = self._set_cgroups_path(self.bundle(args=["/probe", "sleep", "1000"]), "/")
        cid = self.new_id("cgroot")
        r = self.runc("create", "--bundle", b.path, cid)
        self.assertNotEqual(r.rc, 0, f"cgroupsPath \"/\" accepted: {r!r}")
        self.assertIn("cgroup", r.err.lower(), r)
        self.assertFalse(os.path.lexists(os.path.join(self.root, cid)))
        probe = os.stat(os.path.join(b.rootfs, "probe"))
        self.assertEqual(self.poll(lambda: procs_of(cid, (probe.st_dev, probe.st_ino))), [])
        self.check_clean()


# --------------------------------------------------------------------------------------------
# 5 and 6. kill


class Kill(RegressionTest):
    def _find_bg_sleeper(self, cid):
        want = b"/probe\0sleep\x001000\0"
        for pid in live_pids():
            if _read_bytes(f"/proc/{pid}/cmdline") != want:
                continue
            cg = _read_bytes(f"/proc/{pid}/cgroup") or b""
            if re.search(rb"/" + re.escape(cid.encode()) + rb"(/|$)", cg, re.M):
                return pid
        return None

    def test_kill_all_after_init_exited(self):
        b = self.bundle(args=["sh", "-c", "/probe sleep 1000 & sleep 0.5"])
        b.drop_namespace("pid")
        cid = self.run_detached(b)
        self.wait_status(cid, "stopped")
        deadline = time.monotonic() + 5
        child = self._find_bg_sleeper(cid)
        while child is None and time.monotonic() < deadline:
            time.sleep(0.05)
            child = self._find_bg_sleeper(cid)
        self.assertIsNotNone(child, "the background /probe sleep must outlive the init")

        def reap():
            if svtest.proc_state(child) not in DEAD:
                os.kill(child, signal.SIGKILL)
        self.host_cleanup.append(lambda: svtest.proc_state(child) in DEAD or reap())

        self.assertIn(svtest.proc_state(child), ("S", "R"))
        r = self.runc("kill", "--all", cid, "KILL")
        self.assertEqual(r.rc, 0, f"kill --all on a stopped container with live processes "
                                  f"in its cgroup: {r!r}")
        self.assertTrue(wait_dead(child), "kill --all must kill the processes left in the "
                                          "cgroup after the init exited")
        self.runc_ok("delete", cid)
        self.check_clean()

    def test_kill_signal_zero(self):
        b = self.bundle(args=["/probe", "sleep", "1000"])
        cid = self.run_detached(b)
        pid = self.state(cid)["pid"]
        r = self.runc("kill", cid, "0")
        self.assertEqual(r.rc, 0, f"kill with signal 0 on a running container: {r!r}")
        time.sleep(0.2)
        st = self.state(cid)
        self.assertEqual((st["status"], st["pid"]), ("running", pid))
        self.assertIn(svtest.proc_state(pid), ("S", "R"))


# --------------------------------------------------------------------------------------------
# 7. large argv and environment


class LargeProcess(RegressionTest):
    NARGS = 300
    NENV = 1500

    def test_many_args_and_env(self):
        args = [f"a{i}" for i in range(1, self.NARGS + 1)]
        b = self.bundle(args=["sh", "-c", 'echo "$#"; /probe env', "sh", *args])
        extra_env = [f"SVIT_VAR_{i}=value-{i}" for i in range(self.NENV)]
        b.spec["process"]["env"] += extra_env
        b.save()
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], str(self.NARGS), r.out[:200])
        env = lines[1:]
        self.assertGreaterEqual(len(env), self.NENV)
        self.assertEqual(set(extra_env) - set(env), set(), "env vars lost")
        self.check_clean()


# --------------------------------------------------------------------------------------------
# 8, 9 and 10. mounts


class Mounts(RegressionTest):
    def test_rro_recursive_bind(self):
        host = os.path.join(self.tmp, "hostdir")
        sub = os.path.join(host, "sub")
        os.makedirs(sub)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", sub], check=True)
        self.allowed_mounts.add(sub)
        self.host_cleanup.append(
            lambda: subprocess.run(["umount", "-l", sub], check=True))
        with open(os.path.join(sub, "marker"), "w") as f:
            f.write("in-submount")
        b = self.bundle(args=["sh", "-c",
                              "/probe cat /mnt/ro/sub/marker; echo; "
                              "/probe write /mnt/ro/top x >/dev/null; echo top=$?; "
                              "/probe write /mnt/ro/sub/f x >/dev/null; echo sub=$?"])
        b.add_mount("/mnt/ro", "bind", host, ["rbind", "rro"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "in-submount", f"rbind must carry the submount: {r!r}")
        kv = parse_kv(r.out)
        self.assertEqual(kv.get("top"), str(errno.EROFS), f"write into the bind: {r!r}")
        self.assertEqual(kv.get("sub"), str(errno.EROFS), f"write into the submount: {r!r}")
        self.assertFalse(os.path.exists(os.path.join(host, "top")))
        self.assertFalse(os.path.exists(os.path.join(sub, "f")))
        self.check_clean()

    @staticmethod
    def _host_mounts_under(prefix):
        return sorted((m["mountpoint"], m["fstype"], m["source"]) for m in mountinfo()
                      if m["mountpoint"] == prefix or m["mountpoint"].startswith(prefix + "/"))

    def test_dangling_symlink_destination_created_in_rootfs(self):
        before = self._host_mounts_under("/run")
        run_listing = sorted(os.listdir("/run")) if os.path.isdir("/run") else None
        b = self.bundle(args=["/probe", "mounts"])
        self.assertFalse(os.path.lexists(os.path.join(b.rootfs, "run")))
        os.symlink("/run", os.path.join(b.rootfs, "var", "run"))
        b.add_mount("/var/run", "tmpfs", "tmpfs", ["size=1m"])
        r = self.run_container(b)
        self.assertEqual(self._host_mounts_under("/run"), before, "a mount landed on host /run")
        self.assertEqual(sorted(os.listdir("/run")) if os.path.isdir("/run") else None,
                         run_listing, "host /run changed")
        self.assertEqual(r.rc, 0, f"mount on a dangling symlink inside the rootfs: {r!r}")
        self.assertTrue(os.path.isdir(os.path.join(b.rootfs, "run")) and
                        not os.path.islink(os.path.join(b.rootfs, "run")),
                        "the symlink target must be created inside the rootfs")
        inside = svtest.find_mount(mountinfo(r.out), "/run")
        self.assertIsNotNone(inside, f"tmpfs must be mounted at /run in the container: {r.out}")
        self.assertEqual(inside["fstype"], "tmpfs")
        self.check_clean()

    def test_dangling_symlink_pointing_outside(self):
        outside = f"/tmp/svit-outside-{uuid.uuid4().hex[:12]}"
        os.makedirs(outside)

        def cleanup():
            for m in reversed(mountinfo()):
                if m["mountpoint"].startswith(outside):
                    subprocess.run(["umount", "-l", m["mountpoint"]], stderr=subprocess.DEVNULL)
            if any(m["mountpoint"].startswith(outside) for m in mountinfo()):
                raise RuntimeError(f"could not unmount everything under {outside}")
            shutil.rmtree(outside, ignore_errors=True)
        self.host_cleanup.append(cleanup)

        b = self.bundle(args=["/probe", "mounts"])
        os.symlink("../../../../" + outside.lstrip("/") + "/x", os.path.join(b.rootfs, "evil"))
        # The naive host-side resolution of rootfs/evil is exactly `outside`/x.
        self.assertEqual(os.path.normpath(os.path.join(b.rootfs,
                                                       os.readlink(os.path.join(b.rootfs,
                                                                                "evil")))),
                         outside + "/x")
        b.add_mount("/evil", "tmpfs", "tmpfs", ["size=1m"])
        r = self.run_container(b)
        if svtest.VERBOSE:
            print(f"  outside-symlink mount: rc={r.rc} err={r.err.strip()!r}", file=sys.stderr)
        self.assertEqual(os.listdir(outside), [], f"runtime created something in {outside}")
        self.assertEqual([m["mountpoint"] for m in mountinfo()
                          if m["mountpoint"].startswith(outside)], [],
                         f"runtime mounted something on the host under {outside}")
        if r.rc == 0:
            inside = svtest.find_mount(mountinfo(r.out), outside + "/x")
            self.assertIsNotNone(inside, f"the mount must land inside the rootfs: {r.out}")
            self.assertEqual(inside["fstype"], "tmpfs")
            self.assertTrue(os.path.isdir(os.path.join(b.rootfs, outside.lstrip("/"), "x")))
        else:
            self.assertTrue(r.err.strip(), f"a failure must say why: {r!r}")
        self.check_clean()

    def test_symlink_into_proc_refused(self):
        # CVE-2019-16884 class: an image symlink that makes a bind mount cover a file of the
        # container's procfs (here /proc/self/attr/current) must be refused, like runc does.
        src = os.path.join(self.tmp, "label")
        with open(src, "w") as f:
            f.write("unconfined\n")
        b = self.bundle(args=["/probe", "cat", "/proc/self/attr/current"])
        os.symlink("/proc/self", os.path.join(b.rootfs, "evil"))
        b.add_mount("/evil/attr/current", "bind", src, ["bind"])
        r = self.run_container(b)
        self.assertNotEqual(r.rc, 0, f"a mount over /proc/<pid>/attr must be refused: {r!r}")
        self.assertIn("/proc", r.err)
        self.check_clean()


if __name__ == "__main__":
    svtest.main()
