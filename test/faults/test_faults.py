"""Faults (issue 10): `kill -9` of sysvisor-runc at every step of create, of sysvisor-mgr and of
sysvisor-fs around creates and running containers, a full disk under mgr's data root and a
full id range. Afterwards every container either works or `delete --force` removes all of it
(state dir, mounts, cgroups, fs registration), and no id range is ever handed out twice.

The runtime's steps are reached through its test hook SYSVISOR_FAULT=<step>[:stop]
(src/personalities/runc/lifecycle.cc): SIGKILL (or SIGSTOP) of the runtime at that step.
Private mgr and fs daemons; container ids start with `svft-`.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from test_mgr import Mgr, BLOCK  # noqa: E402
from fs_daemon import start_private_daemons  # noqa: E402

MGR, FS, _stop_daemons = start_private_daemons("svft-")

import svtest  # noqa: E402

# The runtime's step boundaries, in order (lifecycle.cc, FaultStep).
STEPS = ["after-mgr", "after-state", "after-cgroup", "after-idmap", "after-clone",
         "after-fs-register", "after-mounts", "after-state-save"]
# Killed there, the container is complete: `start` must work.
WORKING_STEPS = {"after-state-save"}
# sysvisor-fs restarted while the runtime waits at these steps (connected, not registered
# yet): the runtime registers with the new daemon and the create must succeed.
BEFORE_FS_REGISTER = STEPS[:STEPS.index("after-fs-register")]


def uid_base_of(pid):
    with open(f"/proc/{pid}/uid_map") as f:
        return int(f.read().split()[1])


class FaultTest(svtest.ContainerTest):
    def new_id(self, tag="c"):
        cid = f"svft-{tag}-{os.getpid():x}-{next(svtest._ids)}"
        self.ids.append(cid)
        return cid

    def setUp(self):
        super().setUp()
        for d in (MGR, FS):
            if d.proc is None or d.proc.poll() is not None:
                d.start()

    def sc_bundle(self, *args):
        return self.bundle(args=["/probe", *args])

    # -- what the daemons hold ---------------------------------------------------------

    def mgr_table(self):
        return {c["id"]: c for c in MGR.status()["containers"]}

    def assert_no_range_twice(self):
        """No two ids in mgr's table share a range (the pool is big enough: no reuse)."""
        table = self.mgr_table()
        by_base = {}
        for cid, c in table.items():
            by_base.setdefault(c["uidBase"], []).append(cid)
            self.assertEqual(c["uidBase"], c["gidBase"], c)
        shared = {b: ids for b, ids in by_base.items() if len(ids) > 1}
        self.assertEqual(shared, {}, "a range handed out twice")
        bases = sorted(by_base)
        for a, b in zip(bases, bases[1:]):
            self.assertGreaterEqual(b - a, BLOCK, "overlapping ranges")
        return table

    def create_five_more(self):
        """Five new containers run on five fresh ranges that nobody else holds."""
        before = self.mgr_table()
        held = {c["uidBase"] for c in before.values()}
        got = []
        for _ in range(5):
            cid, _ = self.create(self.sc_bundle("sleep", "30"))
            base = uid_base_of(self.state(cid)["pid"])
            self.assertNotIn(base, held, f"{cid} got a range another id holds")
            held.add(base)
            got.append(cid)
        self.assert_no_range_twice()
        for cid in got:
            self.runc_ok("delete", "--force", cid)

    def leaks_of(self, cid, bundle):
        """Everything of container cid left on the host (empty: clean)."""
        problems = []
        for name in (cid, f".creating-{cid}"):
            if os.path.lexists(os.path.join(self.root, name)):
                problems.append(f"state dir left: {name}")
        for row in svtest.mountinfo():
            if cid in row["mountpoint"] or cid in row["root"] or bundle in row["mountpoint"] \
                    or bundle in row["root"] or cid in row["source"]:
                problems.append(f"mount left: {row['mountpoint']} ({row['fstype']}, "
                                f"root {row['root']})")
        for cg in svtest._leftover_cgroups(cid):
            problems.append(f"cgroup left: {cg}")
        if cid in FS.ids():
            problems.append("sysvisor-fs registration left")
        if os.path.exists(os.path.join(FS.paths["mnt"], cid)):
            problems.append("sysvisor-fs subtree left")
        for pid, cmd in svtest.leaked_processes(bundle):
            problems.append(f"process left: {pid} {cmd!r}")
        return problems

    def assert_gone(self, cid, bundle, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            problems = self.leaks_of(cid, bundle)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(problems, [], f"{cid}: left behind after delete --force")
        # Its range: freed, or still held by this id alone (mgr keeps it for the id until the
        # rootfs is gone, as after any delete).
        table = self.assert_no_range_twice()
        if cid in table:
            self.assertNotEqual(table[cid]["state"], "running",
                                f"{cid}: mgr still thinks it runs after delete")

    def faulted_create(self, b, cid, fault, stop=False):
        env = dict(os.environ, SYSVISOR_FAULT=fault + (":stop" if stop else ""))
        argv = [svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", self.root, "create", "--bundle",
                b.path, cid]
        if stop:
            return self.popen("create", "--bundle", b.path, cid, env=env)
        return svtest.run_argv(argv, env=env)

    def wait_stopped(self, p, timeout=10):
        deadline = time.monotonic() + timeout
        while svtest.proc_state(p.pid) != "T":
            self.assertIsNone(p.poll(), f"runtime exited instead of stopping: "
                                        f"{self.read_output(p)}")
            self.assertLess(time.monotonic(), deadline, "runtime did not stop at its fault")
            time.sleep(0.02)

    # -- kill -9 of the runtime ----------------------------------------------------------

    def test_unknown_fault_step_is_refused(self):
        # The hook itself: a typo in a test must not pass as "no fault".
        b = self.sc_bundle("true")
        cid = self.new_id("typo")
        r = self.faulted_create(b, cid, "after-nothing")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("names no step", r.err)
        self.assertEqual(self.leaks_of(cid, b.path), [])

    def test_runtime_killed_at_each_step_of_create(self):
        for step in STEPS:
            with self.subTest(step=step):
                b = self.sc_bundle("sleep", "60")
                cid = self.new_id(step)
                r = self.faulted_create(b, cid, step)
                self.assertEqual(r.rc, -signal.SIGKILL, f"{step}: not killed there: {r!r}")
                if step in WORKING_STEPS:
                    self.assertEqual(self.state(cid)["status"], "created")
                    self.start(cid)
                    st = self.state(cid)
                    self.assertEqual(st["status"], "running")
                    self.assertEqual(uid_base_of(st["pid"]), self.mgr_table()[cid]["uidBase"])
                    up = self.runc_ok("exec", cid, "/probe", "cat", "/proc/uptime").out
                    self.assertLess(float(up.split()[0]), 60, "emulated /proc/uptime")
                    self.assertIn(cid, FS.ids())
                else:
                    # The first state is written before mgr is asked: every step has one.
                    r = self.runc("state", cid)
                    self.assertEqual(r.rc, 0, r)
                    self.assertEqual(json.loads(r.out)["status"], "creating")
                    r = self.runc("start", cid)
                    self.assertNotEqual(r.rc, 0)
                    self.assertIn(f"delete --force {cid}", r.err)
                self.runc_ok("delete", "--force", cid)
                self.assert_gone(cid, b.path)
                # The same id again works (nothing half-made stands in the way)...
                cid2, _ = self.create(b, cid=cid)
                self.runc_ok("delete", "--force", cid2)
                self.assert_gone(cid, b.path)
                # ...and five more get ranges nobody holds.
                self.create_five_more()

    def test_killed_with_its_rootfs_shifted_delete_shifts_it_back(self):
        # A rootfs inside an overlay cannot be idmapped, so the runtime chowns it to the range
        # (the same walk as a Docker upper dir). It records the directory before it starts, so
        # a runtime killed during or after the shift leaves a state `delete --force` undoes.
        b = self.sc_bundle("true")
        rootfs, lower_rootfs = self.rootfs_in_overlay(b)
        b.spec["root"]["path"] = rootfs
        b.save()
        busybox = os.path.join(rootfs, "bin", "busybox")
        for step in ("after-state", "after-idmap"):
            with self.subTest(step=step):
                cid = self.new_id("shift")
                r = self.faulted_create(b, cid, step)
                self.assertEqual(r.rc, -signal.SIGKILL, r)
                base = self.mgr_table()[cid]["uidBase"]
                with open(os.path.join(self.root, cid, "state.json")) as f:
                    recorded = json.load(f).get("shiftedUpper")
                if step == "after-idmap":
                    self.assertEqual(os.stat(busybox).st_uid, base, "not shifted: no test")
                    self.assertEqual(recorded, rootfs)
                self.runc_ok("delete", "--force", cid)
                self.assert_gone(cid, b.path)
                st = os.stat(busybox)
                self.assertEqual((st.st_uid, st.st_gid), (0, 0), f"{step}: left shifted")
                self.assertEqual(os.stat(os.path.join(lower_rootfs, "bin", "busybox")).st_uid, 0)

    def test_killed_with_an_engine_view_delete_puts_the_engines_overlay_back(self):
        # An overlay rootfs with an upper dir (Docker's): from the rootfs step on, its path has
        # the engine's id view and a server process; `delete --force` after a kill anywhere
        # later stops the server, puts the engine's overlay back (one mount, its own layers)
        # and shifts the upper dir back.
        b = self.sc_bundle("sleep", "60")
        merged, lower, upper = self.overlay_rootfs(b)
        with open(os.path.join(upper, "from-the-engine"), "w") as f:
            f.write("0-based")
        b.spec["root"]["path"] = merged
        b.save()
        engine_mount = [r for r in svtest.mountinfo() if r["mountpoint"] == merged]
        self.assertEqual(len(engine_mount), 1)
        for step in ("after-cgroup", "after-clone", "after-mounts", "after-state-save"):
            with self.subTest(step=step):
                cid = self.new_id("view")
                r = self.faulted_create(b, cid, step)
                self.assertEqual(r.rc, -signal.SIGKILL, r)
                base = self.mgr_table()[cid]["uidBase"]
                top = [r for r in svtest.mountinfo() if r["mountpoint"] == merged][-1]
                self.assertEqual((top["fstype"], top["source"]), ("fuse", "sysvisor-idview"))
                self.assertEqual(os.stat(os.path.join(upper, "from-the-engine")).st_uid, base)
                with open(os.path.join(self.root, cid, "state.json")) as f:
                    server = json.load(f)["idView"]["pid"]
                with open(f"/proc/{server}/comm") as f:
                    self.assertEqual(f.read().strip(), "sv-idview")
                self.runc_ok("delete", "--force", cid)
                self.assert_gone(cid, b.path)
                # Gone, or a zombie its new parent has not reaped (the killed runtime was its
                # parent; under Docker the shim, a subreaper, reaps it).
                self.assertIn(svtest.proc_state(server), (None, "Z"), "the view's server lives on")
                now = [r for r in svtest.mountinfo() if r["mountpoint"] == merged]
                self.assertEqual([(r["fstype"], r["source"]) for r in now],
                                 [("overlay", "overlay")], step)
                self.assertIn(f"lowerdir+={lower}", now[0]["super"])
                st = os.stat(os.path.join(upper, "from-the-engine"))
                self.assertEqual((st.st_uid, st.st_gid), (0, 0), f"{step}: left shifted")
                with open(os.path.join(merged, "from-the-engine")) as f:
                    self.assertEqual(f.read(), "0-based")

    def test_daemons_killed_at_each_step_of_create(self):
        # The runtime stopped at each step while mgr or fs is killed -9 and restarted, then
        # continued: the create either completes and the container works, or fails saying
        # why and leaves nothing. Either way delete --force removes everything.
        for daemon in (MGR, FS):
            role = "mgr" if daemon is MGR else "fs"
            for step in STEPS:
                with self.subTest(daemon=role, step=step):
                    b = self.sc_bundle("sleep", "60")
                    cid = self.new_id(f"{role}-{step}")
                    p = self.faulted_create(b, cid, step, stop=True)
                    self.wait_stopped(p)
                    if daemon is MGR:
                        MGR.stop(signal.SIGKILL)
                    else:
                        FS.kill9()
                    daemon.start()
                    os.kill(p.pid, signal.SIGCONT)
                    rc = p.wait(30)
                    out, err = self.read_output(p)
                    if daemon is FS and step in BEFORE_FS_REGISTER:
                        self.assertEqual(rc, 0, f"fs restarted before registration: {err!r}")
                    if rc == 0:
                        self.start(cid)
                        st = self.state(cid)
                        self.assertEqual(st["status"], "running")
                        self.assertEqual(uid_base_of(st["pid"]),
                                         self.mgr_table()[cid]["uidBase"])
                        self.assertLess(self.uptime_in(cid), 60)
                        self.assertIn(cid, FS.ids())
                    else:
                        self.assertIn("sysvisor-", err, f"no reason given: {out!r} {err!r}")
                        self.assertEqual(self.leaks_of(cid, b.path), [],
                                         f"a failed create left things: {err!r}")
                    self.runc_ok("delete", "--force", cid)
                    self.assert_gone(cid, b.path)
            self.create_five_more()

    # -- sysvisor-mgr ------------------------------------------------------------------

    def test_mgr_killed_during_a_create(self):
        # The runtime stopped right after mgr answered; mgr dies and comes back; the create
        # goes on. mgr's table still has the range (persisted before the answer).
        b = self.sc_bundle("sleep", "60")
        cid = self.new_id("mgrdur")
        p = self.faulted_create(b, cid, "after-mgr", stop=True)
        self.wait_stopped(p)
        held = self.mgr_table()[cid]["uidBase"]
        MGR.stop(signal.SIGKILL)
        MGR.start()
        os.kill(p.pid, signal.SIGCONT)
        self.assertEqual(p.wait(30), 0, self.read_output(p))
        self.start(cid)
        self.assertEqual(uid_base_of(self.state(cid)["pid"]), held)
        self.assertEqual(self.mgr_table()[cid]["uidBase"], held)
        self.create_five_more()
        self.runc_ok("delete", "--force", cid)
        self.assert_gone(cid, b.path)

    def test_mgr_killed_between_creates_loses_no_allocation(self):
        running = []
        for _ in range(3):
            cid, _ = self.create(self.sc_bundle("sleep", "60"))
            running.append(cid)
        before = {cid: c["uidBase"] for cid, c in self.mgr_table().items() if cid in running}
        MGR.stop(signal.SIGKILL)
        MGR.start()
        after = {cid: c["uidBase"] for cid, c in self.mgr_table().items() if cid in running}
        self.assertEqual(after, before)
        self.create_five_more()
        for cid in running:
            self.start(cid)
            self.assertEqual(uid_base_of(self.state(cid)["pid"]), before[cid])

    def test_create_while_mgr_is_down_fails_clearly_and_leaves_nothing(self):
        a, _ = self.create(self.sc_bundle("sleep", "60"))
        MGR.stop(signal.SIGKILL)
        try:
            b = self.sc_bundle("sleep", "60")
            cid = self.new_id("mgrdown")
            r = self.runc("create", "--bundle", b.path, cid)
            self.assertNotEqual(r.rc, 0)
            self.assertIn("sysvisor-mgr is not running (start it with", r.err)
            self.assertEqual(self.leaks_of(cid, b.path), [])
            # A container made before still stops and goes (mgr told nothing: a warning).
            self.runc_ok("delete", "--force", a)
        finally:
            MGR.start()
        self.assertNotIn(cid, self.mgr_table())
        self.create_five_more()

    # -- sysvisor-fs -------------------------------------------------------------------

    def uptime_in(self, cid):
        r = self.runc("exec", cid, "/probe", "cat", "/proc/uptime")
        self.assertEqual(r.rc, 0, f"{cid}: /proc/uptime: {r!r}\nfs log:\n{FS.log()[-3000:]}")
        return float(r.out.split()[0])

    def fs_killed_with_running_containers(self, kill_holder):
        keep = [self.run_detached(self.sc_bundle("sleep", "120")) for _ in range(2)]
        gone = self.run_detached(self.sc_bundle("sleep", "120"))
        for cid in keep + [gone]:
            self.assertLess(self.uptime_in(cid), 60)
        holder = FS.holder()
        FS.kill9()
        if kill_holder:
            self.assertTrue(holder, "no fd holder pid")
            os.kill(holder, signal.SIGKILL)
            r = self.runc("exec", keep[0], "/probe", "cat", "/proc/uptime")
            self.assertNotEqual(r.rc, 0, "the FUSE connection should be dead now")
        # One container goes while the daemon is down (delete warns, frees the rest).
        self.runc_ok("delete", "--force", gone)
        FS.start()
        for cid in keep:
            up = self.uptime_in(cid)
            self.assertLess(up, 60)
            self.assertEqual(self.state(cid)["status"], "running")
        ids = FS.ids()
        for cid in keep:
            self.assertIn(cid, ids)
        self.assertNotIn(gone, ids, "stale registration of a container deleted meanwhile")
        # New containers register and work with the new daemon.
        cid = self.run_detached(self.sc_bundle("sleep", "120"))
        self.assertLess(self.uptime_in(cid), 60)
        for c in keep + [cid]:
            self.runc_ok("delete", "--force", c)
        self.assertEqual([i for i in FS.ids() if i in self.ids], [])

    def test_fs_killed_with_running_containers_and_restarted(self):
        self.fs_killed_with_running_containers(kill_holder=False)

    def test_fs_and_its_fd_holder_killed_and_restarted(self):
        self.fs_killed_with_running_containers(kill_holder=True)

    # -- full disk, full id range ------------------------------------------------------

    def test_full_disk_under_mgr_data_root(self):
        d = tempfile.mkdtemp(prefix="svft-disk-")
        img, data = os.path.join(d, "data.img"), os.path.join(d, "data")
        os.mkdir(data)
        self.host_cleanup.append(lambda: shutil.rmtree(d, True))
        subprocess.run(["truncate", "-s", "8M", img], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", img, data], check=True)
        self.host_cleanup.append(lambda: subprocess.run(["umount", data], check=True))
        m = Mgr(d)
        m.paths["data"] = data
        m.start()
        self.host_cleanup.append(lambda: m.stop(signal.SIGKILL))
        msock = ["--mgr-socket", m.paths["mgr.sock"]]
        # Fill the disk (as root: the reserved blocks too).
        # Big blocks first, then 1 KiB ones for what is left between them.
        fillers = [os.path.join(data, f"filler{i}") for i in range(2)]
        for f, bs in zip(fillers, ("64k", "1k")):
            subprocess.run(["dd", "if=/dev/zero", f"of={f}", f"bs={bs}"], capture_output=True)
        subprocess.run(["sync"])
        self.assertEqual(os.statvfs(data).f_bavail, 0, "the disk is not full")
        plain = self.sc_bundle("sleep", "60")
        b = self.sc_bundle("sleep", "60")
        # An image with an engine: mgr makes its store under the data root too. Without one,
        # only its table (ids.json) is written there.
        os.makedirs(os.path.join(b.rootfs, "var", "lib", "docker"))
        for bundle in (b, plain):
            cid = self.new_id("full")
            r = self.runc(*msock, "create", "--bundle", bundle.path, cid)
            self.assertNotEqual(r.rc, 0, r)
            self.assertIn("No space left on device", r.err)
            self.assertIn("data root is full", r.err)
            self.assertIn("free space", r.err)  # what to do
            self.assertEqual(self.leaks_of(cid, bundle.path), [])
            table = {c["id"]: c for c in m.status()["containers"]}
            self.assertNotIn(cid, table, "a failed create holds no range")
        # mgr's table on disk says the same after a restart.
        m.stop(signal.SIGKILL)
        m.start()
        self.assertEqual(m.status()["containers"], [])
        # Space freed: the same create works.
        for f in fillers:
            os.remove(f)
        subprocess.run(["sync"])
        r = self.runc(*msock, "create", "--bundle", b.path, cid)
        self.assertEqual(r.rc, 0, r)
        self.runc_ok(*msock, "start", cid)
        self.assertEqual(uid_base_of(self.state(cid)["pid"]),
                         {c["id"]: c for c in m.status()["containers"]}[cid]["uidBase"])
        self.runc_ok(*msock, "delete", "--force", cid)
        self.assertEqual(self.leaks_of(cid, b.path), [])

    def test_full_id_range_gives_a_clear_error(self):
        d = tempfile.mkdtemp(prefix="svft-ids-")
        self.host_cleanup.append(lambda: shutil.rmtree(d, True))
        m = Mgr(d, extra=["--subid-range-size", str(2 * BLOCK), "--subid-policy", "no-reuse"])
        m.start()
        self.host_cleanup.append(lambda: m.stop(signal.SIGKILL))
        msock = ["--mgr-socket", m.paths["mgr.sock"]]
        made = []
        for _ in range(2):
            b = self.sc_bundle("sleep", "60")
            cid = self.new_id("ids")
            self.runc_ok(*msock, "create", "--bundle", b.path, cid)
            made.append(cid)
        b = self.sc_bundle("sleep", "60")
        cid = self.new_id("idsfull")
        r = self.runc(*msock, "create", "--bundle", b.path, cid)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("all 2 id blocks of the sysvisor pool are in use", r.err)
        self.assertIn("--subid-policy reuse", r.err)  # what to do
        self.assertEqual(self.leaks_of(cid, b.path), [])
        table = {c["id"]: c for c in m.status()["containers"]}
        self.assertNotIn(cid, table)
        self.assertEqual(len({c["uidBase"] for c in table.values()}), 2)
        for c in made:
            self.runc_ok(*msock, "delete", "--force", c)


if __name__ == "__main__":
    try:
        prog = unittest.main(exit=False, verbosity=2)
    finally:
        # What a failed test left: force-deleted before the module root goes.
        root = svtest.module_root()
        for name in os.listdir(root):
            if name.startswith("svft-"):
                svtest.run_argv([svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", root, "delete",
                                 "--force", name], timeout=15)
        left = svtest._cleanup_module_root()
        _stop_daemons()
    res = prog.result
    print(f"\n== test_faults: ran {res.testsRun}, failures {len(res.failures)}, "
          f"errors {len(res.errors)}, skipped {len(res.skipped)}")
    sys.exit(0 if res.wasSuccessful() and not left else 1)
