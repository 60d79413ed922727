#!/usr/bin/env python3
"""System containers through Docker (issue 5): `docker run --runtime sysvisor-runc` gives every
container its own exclusive id range from sysvisor-mgr, image files look root-owned inside
without copying, what root writes is owned by the range on the host, `docker commit` still
makes 0-based images, volumes can be shared between ranges, and the range lives as long as
the container."""

import json
import os
import signal
import subprocess
import tarfile

import e2e
from e2e import DockerTest, wait_for

BLOCK = 65536


def view_servers(container_id):
    """The id view servers (comm sv-idview, forked by `create`: its command line) of a
    container."""
    found = []
    for line in e2e.processes_with(container_id):
        pid = line.split(":", 1)[0]
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "sv-idview":
                    found.append(line)
        except OSError:
            pass
    return found


def uid_map(text):
    return [tuple(int(x) for x in l.split()) for l in text.strip().splitlines()]


class SysContDockerTest(DockerTest):
    def range_of(self, name):
        r = self.docker_ok("exec", name, "cat", "/proc/self/uid_map")
        (inside, base, size), = uid_map(r.out)
        self.assertEqual((inside, size), (0, BLOCK))
        return base

    def container_id(self, name):
        return self.inspect(name, "{{.Id}}")

    def upper_dir(self, name):
        return self.inspect(name, "{{.GraphDriver.Data.UpperDir}}")

    def test_uid_map_exclusive_ranges_and_host_ps(self):
        pool = e2e.MGR.status()["pool"]
        bases = []
        for _ in range(5):
            name = self.docker_run_d("--", "sleep", "300")
            base = self.range_of(name)
            self.assertTrue(pool["uidStart"] <= base < pool["uidStart"] + pool["size"], base)
            pid = int(self.inspect(name, "{{.State.Pid}}"))
            ps = subprocess.run(["ps", "-o", "uid=", "-p", str(pid)], capture_output=True,
                                text=True).stdout.strip()
            self.assertEqual(int(ps), base, "the container's root is base+0 on the host")
            self.assertEqual(e2e.MGR.entry(self.container_id(name))["uidBase"], base)
            bases.append(base)
        s = sorted(bases)
        self.assertEqual(len(set(s)), 5)
        for a, b in zip(s, s[1:]):
            self.assertGreaterEqual(b - a, BLOCK)

    def test_namespaces_and_capabilities(self):
        name = self.docker_run_d("--", "sleep", "300")
        for ns in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"):
            inside = self.docker_ok("exec", name, "readlink", f"/proc/self/ns/{ns}").out.strip()
            self.assertNotEqual(inside, os.readlink(f"/proc/self/ns/{ns}"), ns)
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
        full = (1 << (last + 1)) - 1
        caps = dict(l.split(":\t") for l in self.docker_ok(
            "exec", name, "grep", "^Cap", "/proc/self/status").out.splitlines())
        self.assertEqual(int(caps["CapEff"], 16), full)
        caps = dict(l.split(":\t") for l in self.docker_ok(
            "exec", "--user", "1000", name, "grep", "^Cap", "/proc/self/status").out.splitlines())
        self.assertEqual(int(caps["CapEff"], 16), 0)
        r = self.docker_run("--user", "1000", "--", "grep", "^CapEff", "/proc/self/status")
        self.assertEqual(int(r.out.split()[1], 16), 0, r)
        # What the capabilities and the seccomp allow-list are for: root may mount, unshare
        # and set the hostname inside, under Docker's default profile.
        r = self.docker_ok("exec", name, "sh", "-c",
                           "mkdir -p /mnt/t && mount -t tmpfs t /mnt/t && umount /mnt/t && "
                           "unshare -m true && hostname inner && hostname")
        self.assertEqual(r.out.strip(), "inner", r)

    def test_image_files_root_owned_and_writes_owned_by_the_range(self):
        name = self.docker_run_d("--", "sleep", "300")
        base = self.range_of(name)
        r = self.docker_ok("exec", name, "stat", "-c", "%u:%g", "/bin/busybox", "/etc", "/")
        self.assertEqual(r.out.split(), ["0:0", "0:0", "0:0"])
        self.docker_ok("exec", name, "sh", "-c", "echo hi > /root-made && mkdir -p /var/x")
        upper = self.upper_dir(name)
        st = os.stat(os.path.join(upper, "root-made"))
        self.assertEqual((st.st_uid, st.st_gid), (base, base))
        # The image layers are untouched: still owned by host root.
        lower = self.inspect(name, "{{.GraphDriver.Data.LowerDir}}").split(":")[-1]
        st = os.stat(os.path.join(lower, "bin", "busybox"))
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))

    def test_commit_gives_a_0_based_image(self):
        name = self.docker_run_d("--", "sleep", "300")
        self.docker_ok("exec", name, "sh", "-c",
                       "echo x > /made-by-root; touch /made-by-1000; chown 1000:1000 /made-by-1000;"
                       " cp /bin/busybox /suid; chmod 4755 /suid")
        image = f"{e2e.PREFIX}commit-{os.getpid()}:1"
        try:
            self.docker_ok("commit", name, image)
            # The committed layer, read back through a plain (runc) container of the image.
            r = self.docker_run("--", "stat", "-c", "%n %u:%g %a", "/made-by-root",
                                "/made-by-1000", "/suid", image=image, runtime="runc")
            self.assertEqual(r.out.split("\n")[:3], ["/made-by-root 0:0 644",
                                                     "/made-by-1000 1000:1000 644",
                                                     "/suid 0:0 4755"], r)
            # The container keeps running, its files still its own.
            r = self.docker_ok("exec", name, "stat", "-c", "%u", "/made-by-root")
            self.assertEqual(r.out.strip(), "0")
            # `docker diff` reads the running container through dockerd's mount, where the
            # id view shows it 0-based: exactly what root changed, running or stopped.
            want = ["A /made-by-1000", "A /made-by-root", "A /suid"]
            self.assertEqual(sorted(self.docker_ok("diff", name).out.splitlines()), want)
            self.docker_ok("stop", "-t", "1", name)
            self.assertEqual(sorted(self.docker_ok("diff", name).out.splitlines()), want)
        finally:
            self.docker("rmi", "-f", image)

    def test_shared_volume_between_two_ranges(self):
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared, 0o755)
        a = self.docker_run_d("-v", f"{shared}:/data", "--", "sleep", "300")
        b = self.docker_run_d("-v", f"{shared}:/data", "--", "sleep", "300")
        self.assertNotEqual(self.range_of(a), self.range_of(b))
        self.docker_ok("exec", a, "sh", "-c", "echo from-a > /data/f")
        self.assertEqual(self.docker_ok("exec", b, "stat", "-c", "%u:%g", "/data/f").out.strip(),
                         "0:0")
        self.docker_ok("exec", b, "sh", "-c", "echo from-b >> /data/f")
        st = os.stat(os.path.join(shared, "f"))
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        with open(os.path.join(shared, "f")) as f:
            self.assertEqual(f.read(), "from-a\nfrom-b\n")
        self.assertEqual(os.stat(shared).st_mode & 0o777, 0o755)

    def test_stop_start_keeps_the_range_rm_frees_it(self):
        name = self.docker_run_d("--", "sleep", "300")
        cid = self.container_id(name)
        base = self.range_of(name)
        self.docker_ok("stop", "-t", "1", name)
        self.assertEqual(e2e.MGR.entry(cid)["state"], "stopped")
        self.docker_ok("start", name)
        self.assertEqual(self.range_of(name), base)
        self.docker_ok("rm", "-f", name)
        self.names.remove(name)
        wait_for(lambda: e2e.MGR.entry(cid) is None, 10, "mgr to free the range")

    def test_mgr_down_then_kill9_and_restart_loses_nothing(self):
        names = [self.docker_run_d("--", "sleep", "300") for _ in range(2)]
        before = {self.container_id(n): self.range_of(n) for n in names}
        mgr = e2e.MGR
        mgr.daemon.proc.send_signal(signal.SIGKILL)
        mgr.daemon.proc.wait()
        mgr.daemon.proc = None
        try:
            r = self.docker("run", "--rm", "--runtime", e2e.RUNTIME, "--network", "none",
                            "--name", self.name("down"), self.image, "true")
            self.assertNotEqual(r.rc, 0)
            self.assertIn("sysvisor-mgr is not running (start it with", r.err)
        finally:
            mgr.start()
        st = {c["id"]: c["uidBase"] for c in mgr.status()["containers"]}
        for cid, base in before.items():
            self.assertEqual(st.get(cid), base)
        new = self.docker_run_d("--", "sleep", "300")
        self.assertNotIn(self.range_of(new), before.values())

    def tar_owners(self, data):
        with tarfile.open(fileobj=__import__("io").BytesIO(data)) as t:
            return {m.name: (m.uid, m.gid) for m in t.getmembers()}

    def test_cp_and_export(self):
        name = self.docker_run_d("--", "sleep", "300")
        base = self.range_of(name)
        src = os.path.join(self.tmp, "in.txt")
        with open(src, "w") as f:
            f.write("copied in\n")
        # docker cp in: root's file is root's inside at once (dockerd writes through the view,
        # which stores the owner it sets in the container's range), no restart needed.
        self.docker_ok("cp", src, f"{name}:/in.txt")
        self.assertEqual(self.docker_ok("exec", name, "cat", "/in.txt").out, "copied in\n")
        r = self.docker_ok("exec", name, "stat", "-c", "%u:%g", "/in.txt")
        self.assertEqual(r.out.strip(), "0:0")
        st = os.stat(os.path.join(self.upper_dir(name), "in.txt"))
        self.assertEqual((st.st_uid, st.st_gid), (base, base))
        # Another owner in the archive comes out as it does in a runc container (Docker 20.10
        # keeps the archive's ids, with or without -a, for a container without a user).
        os.chown(src, 4321, 4322)
        plain = self.docker_run_d("--", "sleep", "300", runtime="runc")
        for flags in ([], ["-a"]):
            for ctr in (name, plain):
                self.docker_ok("cp", *flags, src, f"{ctr}:/in-a.txt")
            ours, theirs = (self.docker_ok("exec", c, "stat", "-c", "%u:%g", "/in-a.txt").out
                            for c in (name, plain))
            self.assertEqual((ours, theirs), (theirs, "4321:4322\n"), flags)
        st = os.stat(os.path.join(self.upper_dir(name), "in-a.txt"))
        self.assertEqual((st.st_uid, st.st_gid), (base + 4321, base + 4322))
        self.docker_ok("exec", name, "sh", "-c",
                       "echo made inside > /out.txt; mkdir /home/u; echo u > /home/u/f;"
                       " chown -R 1000:1000 /home/u")
        out = os.path.join(self.tmp, "out.txt")
        self.docker_ok("cp", f"{name}:/out.txt", out)
        with open(out) as f:
            self.assertEqual(f.read(), "made inside\n")
        # docker cp out and docker export of the running container: 0-based owners.
        r = subprocess.run([e2e.DOCKER, "cp", f"{name}:/home/u", "-"], env=self.env.env,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.tar_owners(r.stdout), {"u": (1000, 1000), "u/f": (1000, 1000)})
        for state in ("running", "stopped"):
            tar = os.path.join(self.tmp, f"export-{state}.tar")
            self.docker_ok("export", "-o", tar, name)
            with open(tar, "rb") as f:
                owners = self.tar_owners(f.read())
            self.assertEqual(owners["out.txt"], (0, 0), state)
            self.assertEqual(owners["in.txt"], (0, 0), state)
            self.assertEqual(owners["bin/busybox"], (0, 0), state)
            self.assertEqual(owners["home/u/f"], (1000, 1000), state)
            # Only the rootfs: not the container's /proc, nor what sysvisor-fs or Docker
            # mounted inside.
            self.assertFalse([n for n in owners if n.startswith("proc/")], state)
            self.assertEqual(sorted(self.docker_ok("diff", name).out.splitlines()),
                             ["A /home/u", "A /home/u/f", "A /in-a.txt", "A /in.txt",
                              "A /out.txt", "C /home"], state)
            if state == "running":
                self.docker_ok("stop", "-t", "1", name)

    def test_engine_view_follows_the_container(self):
        """The view dockerd reads is the container's own overlay: a pause (upper dir shifted
        back for commit), a restart, and `docker stop` leave it exact and leave nothing."""
        name = self.docker_run_d("--", "sleep", "300")
        merged = self.inspect(name, "{{.GraphDriver.Data.MergedDir}}")
        self.docker_ok("exec", name, "sh", "-c", "echo 1 > /a; rm /bin/true 2>/dev/null; true")
        want = sorted(self.docker_ok("diff", name).out.splitlines())
        self.assertIn("A /a", want)
        self.docker_ok("pause", name)
        try:
            self.assertEqual(sorted(self.docker_ok("diff", name).out.splitlines()), want)
        finally:
            self.docker_ok("unpause", name)
        # Written inside after the view was mounted: seen at once (no caching in the view).
        self.docker_ok("exec", name, "sh", "-c", "echo 2 > /b")
        r = self.docker_ok("exec", name, "cat", "/b")
        self.assertEqual(r.out, "2\n")
        self.assertIn("A /b", self.docker_ok("diff", name).out.splitlines())
        self.docker_ok("restart", "-t", "1", name)
        self.assertEqual(self.docker_ok("exec", name, "stat", "-c", "%u", "/a", "/bin/busybox")
                         .out.split(), ["0", "0"])
        self.assertIn("A /b", self.docker_ok("diff", name).out.splitlines())
        self.docker_ok("stop", "-t", "1", name)
        self.assertEqual(e2e.our_mounts([merged]), [])
        self.assertEqual(view_servers(self.container_id(name)), [])

    def test_refused_flags(self):
        for flags, needle in ((["--network", "none", "--privileged"],
                               "--privileged is not supported"),
                              (["--network", "none", "--pid", "host"], "--pid=host"),
                              (["--network", "host"], "--net=host")):
            r = self.docker("run", "--rm", "--runtime", e2e.RUNTIME, *flags, self.image, "true")
            self.assertNotEqual(r.rc, 0)
            self.assertIn(needle, r.err, r)


REMAP_USER = "sve2e-remap"


class UsernsRemapTest(DockerTest):
    """A dockerd with userns-remap: the spec arrives with Docker's own mapping, which the
    runtime keeps (and mgr is not asked), and the rootfs Docker already shifted is used as it
    is. The remap user and its subuid/subgid lines are this test's own, removed at the end."""

    remap = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if UsernsRemapTest.remap is None:
            subprocess.run(["userdel", REMAP_USER], capture_output=True)
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false",
                            REMAP_USER], check=True)
            e2e._cleanup_stack.append(cls.remove_user)
            # A range of its own, far from mgr's pool and the host's usual entries.
            subprocess.run(["usermod", "--add-subuids", "1900000000-1900065535",
                            "--add-subgids", "1900000000-1900065535", REMAP_USER], check=True)
            base = os.path.join(e2e.RUN_DIR, "remap")
            env = e2e.DockerEnv(base_dir=base, data_dir=os.path.join(e2e.DATA_DIR, "remap"),
                                cgroup_parent=e2e.CGROUP_PARENT)
            os.makedirs(base, exist_ok=True)
            with open(env.config, "w") as f:
                json.dump({"bridge": "none", "iptables": False, "ip6tables": False,
                           "cgroup-parent": e2e.CGROUP_PARENT, "userns-remap": REMAP_USER}, f)
            env.start()
            e2e._cleanup_stack.append(env.stop)
            UsernsRemapTest.remap = env
        cls.remap_image = UsernsRemapTest.remap.ensure_busybox_image()

    @staticmethod
    def remove_user():
        subprocess.run(["userdel", REMAP_USER], capture_output=True)
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path) as f:
                lines = f.readlines()
            kept = [l for l in lines if not l.startswith(REMAP_USER + ":")]
            if kept != lines:
                with open(path, "w") as f:
                    f.writelines(kept)

    def tearDown(self):
        for n in self.names:
            self.remap.docker("rm", "-f", n)
        self.names = []
        super().tearDown()

    def test_docker_mapping_is_kept(self):
        name = self.name("remap")
        r = self.remap.docker("run", "-d", "--name", name, "--runtime", e2e.RUNTIME,
                              "--network", "none", self.remap_image, "sleep", "300")
        self.assertEqual(r.rc, 0, r)
        r = self.remap.docker("exec", name, "cat", "/proc/self/uid_map")
        self.assertEqual(uid_map(r.out), [(0, 1900000000, 65536)], r)
        cid = self.remap.docker("inspect", "-f", "{{.Id}}", name).out.strip()
        self.assertIsNone(e2e.MGR.entry(cid), "mgr is not asked when the spec maps ids")
        r = self.remap.docker("exec", name, "sh", "-c",
                              "stat -c %u:%g /bin/busybox; echo x > /made && stat -c %u /made")
        self.assertEqual(r.out.split(), ["0:0", "0"], r)
        upper = self.remap.docker("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}",
                                  name).out.strip()
        self.assertEqual(os.stat(os.path.join(upper, "made")).st_uid, 1900000000)


if __name__ == "__main__":
    e2e.main()
