"""sysvisor-mgr as a daemon (root, no containers): the subid entry, exclusive ranges, their
persistence across kill -9, the single-instance lock, exhaustion policies, the status table and
the errors a user sees. Every daemon here runs on private files under a temp dir (its own
subuid/subgid/login.defs, data root, run dir and socket), so the host's mgr is never touched.
"""

import json
import os
import signal
import stat
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.path.abspath(os.environ.get("SV_RUNC") or
                      os.path.join(os.environ.get("SV_BUILD_DIR", "build"), "sysvisor"))
POOL = 268435456
BLOCK = 65536


def read(path):
    with open(path) as f:
        return f.read()


def entry(path):
    """The sysvisor line of a subuid/subgid file, split."""
    return [l for l in read(path).splitlines() if l.startswith("sysvisor:")][0].split(":")


def sh(*args, check=True, timeout=30, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


class Mgr:
    """One private daemon: files under `d`, started and stopped by the test."""

    def __init__(self, d, subuid="", subgid="", login_defs="", extra=()):
        self.d = d
        self.paths = {k: os.path.join(d, k) for k in
                      ("subuid", "subgid", "login.defs", "run", "data", "mgr.sock", "mgr.log")}
        for name, text in (("subuid", subuid), ("subgid", subgid), ("login.defs", login_defs)):
            if not os.path.exists(self.paths[name]):
                with open(self.paths[name], "w") as f:
                    f.write(text)
        self.extra = list(extra)
        self.proc = None

    def flags(self):
        p = self.paths
        return ["--socket", p["mgr.sock"], "--run-dir", p["run"], "--data-root", p["data"],
                "--log", p["mgr.log"], "--subuid", p["subuid"], "--subgid", p["subgid"],
                "--login-defs", p["login.defs"]] + self.extra

    def start(self, wait=True):
        self.proc = subprocess.Popen([BIN, "mgr"] + self.flags(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mgr exited {self.proc.returncode}: "
                                     f"{self.proc.stderr.read()}")
            if os.path.exists(self.paths["mgr.sock"]) and self.cli("status", check=False).returncode == 0:
                return
            time.sleep(0.02)
        raise AssertionError("mgr did not become ready: " + self.log())

    def cli(self, *args, check=True):
        return sh(BIN, "mgr", *args, *self.flags(), check=check)

    def register(self, cid, rootfs):
        out = self.cli("register", cid, rootfs).stdout.split("\n")
        last = [l for l in out if l and not l.startswith("warning:")][-1].split()
        return int(last[0]), int(last[1]), int(last[2]), last[3:] == ["new"]

    def status(self):
        return json.loads(self.cli("status", "--json").stdout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        rc = self.proc.returncode if self.proc else None
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()
        self.proc = None
        return rc

    def log(self):
        try:
            with open(self.paths["mgr.log"]) as f:
                return f.read()
        except FileNotFoundError:
            return ""


class MgrTest(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="svit-mgr-")
        self.rootfs = os.path.join(self.d, "rootfs")
        os.mkdir(self.rootfs)
        self.mgrs = []

    def tearDown(self):
        for m in self.mgrs:
            m.stop(signal.SIGKILL)
        shutil.rmtree(self.d, ignore_errors=True)

    def mgr(self, **kw):
        m = Mgr(self.d, **kw)
        self.mgrs.append(m)
        return m

    def rootfs_of(self, name):
        p = os.path.join(self.d, "bundles", name, "rootfs")
        os.makedirs(p, exist_ok=True)
        return p

    def test_subid_entry_added_and_existing_bytes_kept(self):
        users = "# local users\nalice:100000:65536\n\nbob:165536:65536"  # no trailing newline
        m = self.mgr(subuid=users, subgid="alice:100000:65536\n")
        m.start()
        text = read(m.paths["subuid"])
        self.assertTrue(text.startswith(users + "\n"), text)
        extra = text[len(users) + 1:].splitlines()
        self.assertEqual(len(extra), 1, text)
        name, start, count = extra[0].split(":")
        self.assertEqual((name, int(count)), ("sysvisor", POOL))
        self.assertGreaterEqual(int(start), 165536 + 65536)  # overlaps nobody
        gid_line = [l for l in read(m.paths["subgid"]).splitlines() if l.startswith("sysvisor:")]
        self.assertEqual(len(gid_line), 1)
        # A restart finds the entry and adds nothing.
        self.assertEqual(m.stop(), 0)
        m.start()
        self.assertEqual(read(m.paths["subuid"]), text)

    def test_login_defs_limits_respected(self):
        m = self.mgr(login_defs="SUB_UID_MIN 1000000000\nSUB_GID_MIN 2000000000\n")
        m.start()
        uid = entry(m.paths["subuid"])
        gid = entry(m.paths["subgid"])
        # Both files get the same start (uid base == gid base for every container): the
        # stricter of the two limits.
        self.assertGreaterEqual(int(gid[1]), 2000000000)
        self.assertEqual(uid[1], gid[1])
        ub, gb, size, _ = m.register("c1", self.rootfs_of("c1"))
        self.assertEqual((ub, gb, size), (int(uid[1]), int(gid[1]), BLOCK))

    def test_subuid_and_subgid_get_a_common_start(self):
        # subgid is taken where subuid is free: both entries move past it.
        m = self.mgr(subuid="", subgid="other:100000:2000000\n")
        m.start()
        uid, gid = entry(m.paths["subuid"]), entry(m.paths["subgid"])
        self.assertEqual(uid[1], gid[1])
        self.assertGreaterEqual(int(uid[1]), 2100000)
        # Existing entries that disagree: refused with what to do.
        m.stop()
        with open(m.paths["subgid"], "w") as f:
            f.write(f"sysvisor:{int(uid[1]) + 65536}:{POOL}\n")
        p = m.start(wait=False)
        m.proc = None
        p.wait(10)
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
        self.assertEqual(p.returncode, 1)
        self.assertIn("start at different ids", err)

    def test_five_containers_get_disjoint_ranges_in_the_entry(self):
        m = self.mgr()
        m.start()
        start = int(entry(m.paths["subuid"])[1])
        ranges = [m.register(f"c{i}", self.rootfs_of(f"c{i}")) for i in range(5)]
        bases = sorted(r[0] for r in ranges)
        for r in ranges:
            self.assertEqual(r[0], r[1])
            self.assertEqual(r[2], BLOCK)
            self.assertTrue(r[3])
            self.assertTrue(start <= r[0] and r[0] + BLOCK <= start + POOL)
        for a, b in zip(bases, bases[1:]):
            self.assertGreaterEqual(b - a, BLOCK)
        st = m.status()
        self.assertEqual(st["pool"]["blocksInUse"], 5)
        self.assertEqual(sorted(c["id"] for c in st["containers"]), [f"c{i}" for i in range(5)])
        self.assertTrue(all(c["state"] == "running" for c in st["containers"]))
        nofs = ["--fs-socket", os.path.join(m.paths["run"], "no-fs.sock")]
        table = m.cli("status", *nofs).stdout
        self.assertIn("CONTAINER", table)
        for i, r in enumerate(ranges):
            self.assertIn(f"{r[0]}-{r[0] + BLOCK - 1}", table)
        # Daemon health first: mgr's version, pid and uptime; sysvisor-fs is not running there.
        lines = table.splitlines()
        self.assertRegex(lines[0], rf"^sysvisor-mgr \d+\.\d+\.\d+: running, pid "
                                   rf"{m.proc.pid}, up \d+s ")
        self.assertTrue(lines[1].startswith("sysvisor-fs: NOT RUNNING: "), lines[1])
        self.assertIn("start it with", lines[1])
        js = json.loads(m.cli("status", "--json", *nofs).stdout)
        self.assertEqual(js["mgr"]["pid"], m.proc.pid)
        self.assertTrue(js["mgr"]["running"])
        self.assertFalse(js["fs"]["running"])

    def test_stop_start_keeps_the_range_and_gone_frees_it(self):
        m = self.mgr()
        m.start()
        a = m.register("keep", self.rootfs_of("keep"))
        m.cli("unregister", "keep")
        st = {c["id"]: c for c in m.status()["containers"]}
        self.assertEqual(st["keep"]["state"], "stopped")
        b = m.register("keep", self.rootfs_of("keep"))
        self.assertEqual(a[:3], b[:3])
        self.assertFalse(b[3])  # not fresh: kept
        m.cli("unregister", "--gone", "keep")
        self.assertEqual(m.status()["containers"], [])
        # Next-fit: the freed block is not handed out again at once.
        c = m.register("next", self.rootfs_of("next"))
        self.assertNotEqual(c[0], a[0])
        r = m.cli("unregister", "nosuch", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no range for container", r.stderr)

    def test_kill9_and_restart_loses_no_allocation(self):
        m = self.mgr()
        m.start()
        before = {f"k{i}": m.register(f"k{i}", self.rootfs_of(f"k{i}"))[0] for i in range(3)}
        m.cli("unregister", "k1")  # stopped: its range stays reserved
        m.stop(signal.SIGKILL)
        m.start()  # the stale socket and lock of the dead daemon do not block it
        st = {c["id"]: c for c in m.status()["containers"]}
        self.assertEqual({k: v["uidBase"] for k, v in st.items()}, before)
        self.assertEqual(st["k1"]["state"], "stopped")
        new = m.register("k3", self.rootfs_of("k3"))[0]
        self.assertNotIn(new, before.values())
        self.assertEqual(m.register("k1", self.rootfs_of("k1"))[0], before["k1"])

    def test_second_instance_refuses(self):
        m = self.mgr()
        m.start()
        second = Mgr(self.d)
        r = sh(BIN, "mgr", *second.flags(), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already running", r.stderr)
        self.assertIn(str(m.proc.pid), r.stderr)
        # The first one still serves.
        self.assertEqual(m.status()["containers"], [])

    def test_missing_parents_of_its_directories_are_made(self):
        # `--data-root /var/lib/x/mgr-data` on a machine without /var/lib/x: made like mkdir -p
        # (the leaf private to root), not a refusal to start.
        m = self.mgr()
        for k in ("data", "run"):
            m.paths[k] = os.path.join(self.d, "new", k, "below")
        m.start()
        self.assertEqual(stat.S_IMODE(os.stat(m.paths["data"]).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(m.paths["data"])).st_mode), 0o755)
        self.assertTrue(os.path.isdir(m.paths["run"]))
        self.assertEqual(m.status()["containers"], [])

    def test_data_root_on_tmpfs_refuses_to_start(self):
        # The containers' inner Docker stores live there: not on tmpfs or overlayfs.
        m = self.mgr()
        os.makedirs(m.paths["data"], exist_ok=True)
        sh("mount", "-t", "tmpfs", "svit-mgr-tmpfs", m.paths["data"])
        try:
            r = sh(BIN, "mgr", *m.flags(), check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("is on tmpfs", r.stderr)
            self.assertIn("--data-root", r.stderr)
        finally:
            sh("umount", m.paths["data"], check=False)

    def test_stores_of_gone_containers_are_removed(self):
        m = self.mgr()
        m.start()
        m.register("keep", self.rootfs_of("keep"))
        store = os.path.join(m.paths["data"], "docker")
        self.assertEqual(os.stat(os.path.join(store, "keep")).st_uid,
                         m.status()["containers"][0]["uidBase"])
        os.makedirs(os.path.join(store, "left-by-a-crash", "sub"))
        m.stop()
        m.start()
        self.assertEqual(sorted(os.listdir(store)), ["keep"])

    def test_no_reuse_exhaustion_refuses_and_reuse_shares(self):
        m = self.mgr(extra=["--subid-range-size", str(3 * BLOCK), "--subid-policy", "no-reuse"])
        m.start()
        for i in range(3):
            m.register(f"x{i}", self.rootfs_of(f"x{i}"))
        r = m.cli("register", "x3", self.rootfs_of("x3"), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("reuse", r.stderr)
        self.assertNotIn("x3", [c["id"] for c in m.status()["containers"]])
        m.stop()
        m.extra = ["--subid-range-size", str(3 * BLOCK), "--subid-policy", "reuse"]
        m.start()
        out = m.cli("register", "x3", self.rootfs_of("x3")).stdout
        self.assertIn("warning:", out)
        st = {c["id"]: c for c in m.status()["containers"]}
        self.assertTrue(st["x3"]["shared"])
        self.assertIn("exhausted", m.log())

    def test_removed_rootfs_frees_the_range(self):
        m = self.mgr()
        m.start()
        m.register("r1", self.rootfs_of("r1"))
        m.register("r2", self.rootfs_of("r2"))
        m.cli("unregister", "r1")
        shutil.rmtree(os.path.join(self.d, "bundles", "r1"))
        ids = [c["id"] for c in m.status()["containers"]]
        self.assertEqual(ids, ["r2"])
        self.assertIn("rootfs gone", m.log())
        # Docker's overlay: ".../merged" disappears at every stop; the layer dir tells.
        layer = os.path.join(self.d, "overlay2", "abc")
        os.makedirs(layer)
        m.register("d1", os.path.join(layer, "merged"))
        m.cli("unregister", "d1")
        self.assertIn("d1", [c["id"] for c in m.status()["containers"]])
        shutil.rmtree(layer)
        self.assertNotIn("d1", [c["id"] for c in m.status()["containers"]])

    def test_a_mount_on_the_rootfs_keeps_the_range(self):
        # sysvisor-runc replaces an engine's overlay on a rootfs mount point by its id view for
        # as long as the container runs: what is mounted there is not the rootfs's identity.
        m = self.mgr()
        m.start()
        rootfs = self.rootfs_of("m1")
        m.register("m1", rootfs)
        subprocess.run(["mount", "-t", "tmpfs", "sv-mgr-test", rootfs], check=True)
        try:
            self.assertIn("m1", [c["id"] for c in m.status()["containers"]])
        finally:
            subprocess.run(["umount", rootfs], check=True)
        self.assertIn("m1", [c["id"] for c in m.status()["containers"]])
        self.assertNotIn("rootfs gone", m.log())

    def test_corrupt_table_refuses_to_start(self):
        m = self.mgr()
        m.start()
        m.register("t1", self.rootfs_of("t1"))
        m.stop()
        path = os.path.join(m.paths["data"], "ids.json")
        with open(path, "w") as f:
            f.write("{ not json")
        p = m.start(wait=False)
        m.proc = None
        p.wait(10)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
        self.assertIn("cannot be trusted", err)
        self.assertIn("ids.json", err)
        self.assertFalse(os.path.exists(m.paths["mgr.sock"]))

    def test_bad_requests_and_flags(self):
        m = self.mgr()
        m.start()
        r = m.cli("register", "bad/id", self.rootfs, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid container id", r.stderr)
        r = m.cli("register", "ok", "relative/rootfs", check=False)
        self.assertIn("absolute", r.stderr)
        r = sh(BIN, "mgr", "--subid-policy", "sometimes", check=False)
        self.assertIn("neither reuse nor no-reuse", r.stderr)
        r = sh(BIN, "mgr", "--subid-range-size", "1000", check=False)
        self.assertIn("multiple of 65536", r.stderr)

    def test_down_daemon_and_non_root_client(self):
        m = self.mgr()
        r = m.cli("status", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("sysvisor-mgr is not running (start it with", r.stderr)
        m.start()
        os.chmod(self.d, 0o755)
        r = sh("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
               BIN, "mgr", "status", "--socket", m.paths["mgr.sock"], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("only root", r.stderr)

    def test_sigterm_stops_cleanly(self):
        m = self.mgr()
        m.start()
        self.assertEqual(m.stop(signal.SIGTERM), 0)
        self.assertFalse(os.path.exists(m.paths["mgr.sock"]))
        self.assertIn("stopping", m.log())


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    print(f"\n== test_mgr: ran {res.testsRun}, failures {len(res.failures)}, "
          f"errors {len(res.errors)}, skipped {len(res.skipped)}")
    sys.exit(0 if res.wasSuccessful() and not res.skipped else 1)
