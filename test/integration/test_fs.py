"""sysvisor-fs as a daemon (root, no runtime): the per-container /proc and /sys files, /proc/sys
by its rules (namespaced knobs in the requester's namespaces, per-container values, push to the
host only upwards, EACCES for the rest), registrations over RPC, and kill -9 + restart while
files are open. "Containers" here are processes in new user, net, uts and ipc namespaces; a
reader inside one is `nsenter` into its namespaces. Every daemon runs on private paths under a
temp dir, so the host's sysvisor-fs is never touched.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_mgr import BIN, read, sh  # noqa: E402


class Fs:
    """One private daemon: mount point, socket, run dir and log under `d`."""

    def __init__(self, d):
        self.d = d
        self.mnt = os.path.join(d, "mnt")
        self.sock = os.path.join(d, "fs.sock")
        self.run = os.path.join(d, "run")
        self.logf = os.path.join(d, "fs.log")
        self.proc = None

    def flags(self):
        return ["--mountpoint", self.mnt, "--socket", self.sock, "--run-dir", self.run,
                "--log", self.logf]

    def start(self):
        self.errf = os.path.join(self.d, "fs.stderr")
        with open(self.errf, "w") as err:
            self.proc = subprocess.Popen([BIN, "fs"] + self.flags(), stdout=subprocess.DEVNULL,
                                         stderr=err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"fs exited {self.proc.returncode}: {read(self.errf)}")
            if os.path.exists(self.sock) and self.cli("status", check=False).returncode == 0:
                return
            time.sleep(0.02)
        raise AssertionError("fs did not become ready: " + self.log())

    def cli(self, *args, check=True):
        return sh(BIN, "fs", *args, "--socket", self.sock, check=check)

    def log(self):
        return read(self.logf) if os.path.exists(self.logf) else ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


def exited(pid):
    """True once pid is gone or a zombie (its files are closed then)."""
    try:
        return read(f"/proc/{pid}/stat").rsplit(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


class Ctr:
    """A process in new user (root mapped to root), net, uts and ipc namespaces."""

    def __init__(self, fs, cid, uid_base=0, mntns=False):
        self.fs = fs
        self.cid = cid
        extra = ["-m", "--propagation", "private"] if mntns else []
        # Not on the test's stdout/stderr: a process left behind would keep the test runner
        # waiting for the end of its output.
        self.proc = subprocess.Popen(["unshare", "-U", "-r", "-n", "-u", "-i", *extra, "--fork",
                                      "sleep", "3600"], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 5
            self.pid = None
            while time.monotonic() < deadline and self.pid is None:
                kids = sh("pgrep", "-P", str(self.proc.pid), check=False).stdout.split()
                self.pid = int(kids[0]) if kids else None
                time.sleep(0.01)
            assert self.pid, "unshare did not start its child"
            out = fs.cli("register", "--uid-base", str(uid_base), cid,
                         str(self.pid)).stdout.split()
            self.root, self.binds = out[0], out[1:]
        except BaseException:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise

    def path(self, p):
        return self.root + p

    def run(self, *argv, ns="-n -u -i", check=True):
        """argv inside the container's namespaces (not its user namespace unless asked)."""
        return sh("nsenter", "-t", str(self.pid), *ns.split(), *argv, check=check)

    def cat(self, p, ns="-n -u -i"):
        return self.run("cat", self.path(p), ns=ns).stdout

    def write(self, p, value, ns="-n -u -i", check=True):
        return self.run("sh", "-c", f"printf '%s\\n' '{value}' > {self.path(p)}", ns=ns,
                        check=check)

    def stop(self):
        self.fs.cli("unregister", self.cid, check=False)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class FsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="svfs-it-")
        cls.fs = Fs(cls.tmp)
        cls.fs.start()

    @classmethod
    def tearDownClass(cls):
        cls.fs.stop()
        # With nothing registered, SIGTERM takes the mount and the fd holder down.
        mounts = read("/proc/self/mountinfo")
        if cls.fs.mnt in mounts:
            sh("umount", "-l", cls.fs.mnt, check=False)
            raise AssertionError("sysvisor-fs left its mount behind")
        sh("rm", "-rf", cls.tmp, check=False)

    def setUp(self):
        self.ctrs = []

    def tearDown(self):
        for c in self.ctrs:
            c.stop()

    def ctr(self, tag, uid_base=0, mntns=False):
        c = Ctr(self.fs, f"{tag}-{os.getpid()}-{len(self.ctrs)}", uid_base, mntns)
        self.ctrs.append(c)
        return c

    def test_files_are_listed_and_owned_by_the_containers_root(self):
        c = self.ctr("own", uid_base=165536)
        self.assertIn("/proc/uptime", c.binds)
        self.assertIn("/proc/sys", c.binds)
        self.assertEqual(sorted(os.listdir(c.path("/proc"))),
                         ["cpuinfo", "diskstats", "loadavg", "meminfo", "stat", "swaps", "sys",
                          "uptime"])
        for p in ("/proc/meminfo", "/proc/sys/kernel/panic", "/proc/sys"):
            st = os.stat(c.path(p))
            self.assertEqual((st.st_uid, st.st_gid), (165536, 165536), p)
        self.assertEqual(sorted(os.listdir(c.path("/proc/sys"))), sorted(os.listdir("/proc/sys")))
        self.assertEqual(sorted(os.listdir(c.path("/sys/kernel"))),
                         ["config", "debug", "security", "tracing"])

    def test_uptime_is_the_containers(self):
        c = self.ctr("up")
        time.sleep(1.2)
        up, idle = map(float, c.cat("/proc/uptime").split())
        host = float(read("/proc/uptime").split()[0])
        self.assertGreaterEqual(up, 1.0)
        self.assertLess(up, 30)
        self.assertLess(up, host)
        load = c.cat("/proc/loadavg").split()
        self.assertEqual(len(load), 5)
        self.assertRegex(load[3], r"^\d+/\d+$")

    def test_local_sysctl_is_per_container_and_range_checked(self):
        a, b = self.ctr("loca"), self.ctr("locb")
        host = read("/proc/sys/kernel/panic")
        a.write("/proc/sys/kernel/panic", "5")
        self.assertEqual(a.cat("/proc/sys/kernel/panic"), "5\n")
        self.assertEqual(b.cat("/proc/sys/kernel/panic"), host)
        self.assertEqual(read("/proc/sys/kernel/panic"), host)
        r = a.write("/proc/sys/kernel/kptr_restrict", "3", check=False)
        self.assertNotEqual(r.returncode, 0)
        r = a.run("python3", "-c", f"import os; fd=os.open('{a.path('/proc/sys/kernel/kptr_restrict')}', os.O_WRONLY)\n"
                  "try: os.write(fd, b'3')\nexcept OSError as e: print(e.errno)", check=False)
        self.assertEqual(r.stdout.strip(), "22")  # EINVAL, like the kernel

    def test_namespaced_sysctls_live_in_the_requesters_namespaces(self):
        a, b = self.ctr("nsa"), self.ctr("nsb")
        host_ttl = read("/proc/sys/net/ipv4/ip_default_ttl")
        a.write("/proc/sys/net/ipv4/ip_default_ttl", "99")
        self.assertEqual(a.cat("/proc/sys/net/ipv4/ip_default_ttl"), "99\n")
        # The container's own network namespace changed, not the host's nor another's.
        self.assertEqual(a.run("cat", "/proc/sys/net/ipv4/ip_default_ttl").stdout, "99\n")
        self.assertEqual(read("/proc/sys/net/ipv4/ip_default_ttl"), host_ttl)
        self.assertEqual(b.cat("/proc/sys/net/ipv4/ip_default_ttl"), host_ttl)
        # Listing follows the requester's namespace too: only lo inside.
        self.assertEqual(sorted(a.run("ls", a.path("/proc/sys/net/ipv4/conf")).stdout.split()),
                         ["all", "default", "lo"])
        a.write("/proc/sys/kernel/hostname", "inner-a")
        self.assertEqual(a.run("hostname").stdout.strip(), "inner-a")
        self.assertEqual(b.cat("/proc/sys/kernel/hostname"), b.run("hostname").stdout)
        self.assertNotEqual(sh("hostname").stdout.strip(), "inner-a")
        a.write("/proc/sys/kernel/shmmni", "1234")
        self.assertEqual(a.run("cat", "/proc/sys/kernel/shmmni").stdout, "1234\n")
        self.assertNotEqual(read("/proc/sys/kernel/shmmni"), "1234\n")

    def test_a_thread_reads_namespaced_knobs(self):
        # FUSE names the requesting thread, not its process (Go daemons read from threads).
        a = self.ctr("thr")
        a.write("/proc/sys/net/ipv4/ip_default_ttl", "55")
        script = ("import threading\nout = []\n"
                  f"t = threading.Thread(target=lambda: out.append(open('{a.path('/proc/sys/net/ipv4/ip_default_ttl')}').read()))\n"
                  "t.start(); t.join(); print(out[0], end='')")
        self.assertEqual(a.run("python3", "-c", script).stdout, "55\n")

    def test_user_namespace_sysctls_go_through_the_helper(self):
        a = self.ctr("usr")
        host = read("/proc/sys/user/max_user_namespaces")
        a.write("/proc/sys/user/max_user_namespaces", "77", ns="-U -n -u -i")
        self.assertEqual(a.cat("/proc/sys/user/max_user_namespaces", ns="-U"), "77\n")
        self.assertEqual(a.run("cat", "/proc/sys/user/max_user_namespaces", ns="-U").stdout,
                         "77\n")
        self.assertEqual(read("/proc/sys/user/max_user_namespaces"), host)

    def test_other_host_knobs_are_read_only(self):
        a = self.ctr("den")
        host = read("/proc/sys/vm/swappiness")
        self.assertEqual(a.cat("/proc/sys/vm/swappiness"), host)
        r = a.run("python3", "-c", f"import os; fd=os.open('{a.path('/proc/sys/vm/swappiness')}', os.O_WRONLY)\n"
                  "try: os.write(fd, b'7')\nexcept OSError as e: print(e.errno)", check=False)
        self.assertEqual(r.stdout.strip(), "13")  # EACCES
        self.assertEqual(read("/proc/sys/vm/swappiness"), host)
        self.assertEqual(a.cat("/proc/sys/kernel/cap_last_cap"), read("/proc/sys/kernel/cap_last_cap"))

    def test_uuid_is_fresh_and_product_uuid_per_container(self):
        a, b = self.ctr("uua"), self.ctr("uub")
        uuids = {a.cat("/proc/sys/kernel/random/uuid") for _ in range(10)}
        self.assertEqual(len(uuids), 10)
        pa = read(a.path("/sys/devices/virtual/dmi/id/product_uuid"))
        self.assertEqual(pa, read(a.path("/sys/devices/virtual/dmi/id/product_uuid")))
        self.assertNotEqual(pa, read(b.path("/sys/devices/virtual/dmi/id/product_uuid")))
        self.assertRegex(pa, r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$")

    def test_conntrack_hashsize_is_per_container(self):
        a, b = self.ctr("hsa"), self.ctr("hsb")
        path = "/sys/module/nf_conntrack/parameters/hashsize"
        self.assertIn(path, a.binds)
        host = read(path) if os.path.exists(path) else ""
        a.write(path, "131072")
        self.assertEqual(a.cat(path), "131072\n")
        self.assertEqual(b.cat(path), host)
        if host:
            self.assertEqual(read(path), host)
        r = a.write(path, "0", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(a.cat(path), "131072\n")

    def test_limits_raise_the_host_but_never_lower_it(self):
        a = self.ctr("push")
        host = int(read("/proc/sys/fs/nr_open"))
        try:
            a.write("/proc/sys/fs/nr_open", str(host + 64))
            self.assertEqual(int(read("/proc/sys/fs/nr_open")), host + 64)
            a.write("/proc/sys/fs/nr_open", str(host - 64))
            self.assertEqual(a.cat("/proc/sys/fs/nr_open"), f"{host - 64}\n")
            self.assertEqual(int(read("/proc/sys/fs/nr_open")), host + 64)
        finally:
            with open("/proc/sys/fs/nr_open", "w") as f:
                f.write(str(host))

    def test_unregister_removes_the_subtree(self):
        a = self.ctr("gone")
        self.assertTrue(os.path.exists(a.path("/proc/uptime")))
        a.fs.cli("unregister", a.cid)
        self.assertFalse(os.path.exists(a.root))
        self.assertFalse(os.path.exists(os.path.join(self.fs.run, "fs", "containers",
                                                     a.cid + ".json")))
        r = self.fs.cli("unregister", a.cid, check=False)
        self.assertIn("serves no container", r.stderr)

    def test_bad_registrations_are_refused_clearly(self):
        r = self.fs.cli("register", "bad-pid", "999999999", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("is not running", r.stderr)
        r = self.fs.cli("register", "../evil", "1", check=False)
        self.assertIn("is no container id", r.stderr)
        r = sh(BIN, "fs", "status", "--socket", os.path.join(self.tmp, "nope.sock"), check=False)
        self.assertIn("sysvisor-fs is not running (start it with", r.stderr)

    def test_second_instance_is_refused(self):
        r = sh(BIN, "fs", *self.fs.flags(), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already running", r.stderr)

    def test_kill9_and_restart_serves_running_containers_again(self):
        a = self.ctr("k9")
        a.write("/proc/sys/kernel/panic", "7")
        fd = os.open(a.path("/proc/uptime"), os.O_RDONLY)
        try:
            self.fs.kill9()
            self.fs.start()
            t0 = time.monotonic()
            up = float(a.cat("/proc/uptime").split()[0])
            self.assertLess(time.monotonic() - t0, 1.0)
            self.assertGreater(up, 0)
            # The value the container set survived, and so did the open file.
            self.assertEqual(a.cat("/proc/sys/kernel/panic"), "7\n")
            self.assertGreater(float(os.pread(fd, 100, 0).split()[0]), 0)
            self.assertIn("took over the live FUSE connection", self.fs.log())
        finally:
            os.close(fd)

    def test_dead_connection_is_replaced_in_the_containers_mount_namespace(self):
        # The daemon and its fd holder both killed: the FUSE connection is gone, so the next
        # daemon mounts anew and swaps the container's dead binds for live ones in place.
        a = self.ctr("dead", mntns=True)
        for p in ("/proc/uptime", "/proc/sys"):
            a.run("mount", "--bind", a.path(p), p, ns="-m")
        a.write("/proc/sys/kernel/panic", "3")
        holder = int(read(os.path.join(self.fs.run, "fs", "holder.pid")))
        self.fs.kill9()
        os.kill(holder, signal.SIGKILL)
        # Gone, not just signalled: a read while the holder still keeps the connection open
        # would wait, then fail with ECONNABORTED when it closes (slow under the sanitizers).
        deadline = time.monotonic() + 30
        while not exited(holder):
            self.assertLess(time.monotonic(), deadline, "the fd holder did not die")
            time.sleep(0.01)
        r = a.run("cat", "/proc/uptime", ns="-m", check=False)
        try:
            self.assertIn("Transport endpoint is not connected", r.stderr)
        finally:
            self.fs.start()  # the following tests need a daemon either way
        r = a.run("cat", "/proc/uptime", ns="-m", check=False)
        self.assertEqual(r.returncode, 0, (r.stderr, self.fs.log()))
        up = float(r.stdout.split()[0])
        self.assertLess(up, 60)
        self.assertEqual(a.run("cat", "/proc/sys/kernel/panic", ns="-m -n -u -i").stdout, "3\n")
        mounts = a.run("cat", "/proc/self/mountinfo", ns="-m").stdout.splitlines()
        self.assertEqual(len([m for m in mounts if m.split()[4] == "/proc/uptime"]), 1)
        self.assertIn("emulated files attached again", self.fs.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
