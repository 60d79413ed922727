#!/usr/bin/env python3
"""System containers through Docker (issue 5): `docker run --runtime sysvisor-runc` gives every
container its own exclusive id range from sysvisor-mgr, image files look root-owned inside
without copying, what root writes is owned by the range on the host, `docker commit` still
makes 0-based images, volumes can be shared between ranges, and the range lives as long as
the container."""

import json
import os
import subprocess

import e2e
from e2e import DockerTest, wait_for

BLOCK = 65536


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
            self.assertEqual(self.docker("diff", name).out.split().count("/made-by-root"), 1)
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

    def test_refused_flags(self):
        for flags, needle in ((["--network", "none", "--privileged"],
                               "--privileged is not supported"),
                              (["--network", "none", "--pid", "host"], "--pid=host"),
                              (["--network", "host"], "--net=host")):
            r = self.docker("run", "--rm", "--runtime", e2e.RUNTIME, *flags, self.image, "true")
            self.assertNotEqual(r.rc, 0)
            self.assertIn(needle, r.err, r)


if __name__ == "__main__":
    e2e.main()
