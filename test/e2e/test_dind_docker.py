#!/usr/bin/env python3
"""Docker inside a system container (issue 7): an image with Debian's docker.io runs under
`docker run --runtime sysvisor-runc` without --privileged, added capabilities or extra mounts;
inside, dockerd runs on overlay2 in mgr's store, imports a local image and runs containers whose
ids lie in the outer container's exclusive range; the inner images survive stop/start and the
store goes with the container."""

import os

import e2e
from e2e import DockerTest, wait_for

BLOCK = 65536


class DindTest(DockerTest):
    def start_inner_dockerd(self, name):
        # /run is no tmpfs in this image (no init mounts one): a restarted container still
        # holds the pid file of the dockerd it ran before.
        self.docker_ok("exec", "-d", name, "sh", "-c",
                       "rm -rf /var/run/docker.pid /var/run/docker; "
                       "dockerd --bridge=none --iptables=false >/var/log/inner-dockerd.log 2>&1")
        try:
            wait_for(lambda: self.docker("exec", name, "docker", "info").rc == 0, 90,
                     "the inner dockerd to answer")
        except AssertionError:
            log = self.docker("exec", name, "tail", "-30", "/var/log/inner-dockerd.log")
            raise AssertionError(f"inner dockerd did not start:\n{log.out}{log.err}")

    def outer_base(self, name):
        r = self.docker_ok("exec", name, "cat", "/proc/self/uid_map")
        inside, base, size = (int(x) for x in r.out.split())
        self.assertEqual((inside, size), (0, BLOCK))
        return base

    def test_docker_runs_inside_and_keeps_its_images(self):
        image = self.env.ensure_dind_image()
        name = self.docker_run_d("--", "sleep", "infinity", image=image)
        self.start_inner_dockerd(name)
        r = self.docker_ok("exec", name, "docker", "info", "--format",
                           "{{.Driver}} {{.DockerRootDir}}")
        self.assertEqual(r.out.split(), ["overlay2", "/var/lib/docker"], r)
        cid = self.inspect(name, "{{.Id}}")
        store = os.path.join(e2e.DATA_DIR, "mgr-data", "docker", cid)
        self.assertTrue(os.path.isdir(os.path.join(store, "overlay2")), os.listdir(store))
        with e2e.busybox_tarball() as tar:
            self.docker_ok("cp", tar, f"{name}:/tmp/inner.tar")
        self.docker_ok("exec", name, "docker", "import", "/tmp/inner.tar", "inner:1")
        r = self.docker_ok("exec", name, "docker", "run", "--rm", "--network", "none", "inner:1",
                           "cat", "/proc/self/uid_map")
        inside, base, size = (int(x) for x in r.out.split())
        outer = self.outer_base(name)
        # The inner container shares the outer user namespace: its ids are the outer range.
        self.assertEqual((inside, base, size), (0, outer, BLOCK))
        self.assertEqual(self.docker_ok("exec", name, "docker", "run", "--rm", "--network",
                                        "none", "inner:1", "id", "-u").out.strip(), "0")
        # stop + start: the inner image is still there.
        self.docker_ok("stop", "-t", "2", name)
        self.docker_ok("start", name)
        self.assertEqual(self.outer_base(name), outer)
        self.start_inner_dockerd(name)
        self.assertNotEqual(self.docker_ok("exec", name, "docker", "images", "-q",
                                           "inner:1").out.strip(), "")
        self.docker_ok("rm", "-f", name)
        self.names.remove(name)
        # mgr frees the range, and removes the store, once Docker removed the rootfs (a status
        # call reaps at once).
        wait_for(lambda: e2e.MGR.entry(cid) is None and not os.path.exists(store), 15,
                 "mgr to remove the store")

    def import_inner(self, name):
        with e2e.busybox_tarball() as tar:
            self.docker_ok("cp", tar, f"{name}:/tmp/inner.tar")
        self.docker_ok("exec", name, "docker", "import", "/tmp/inner.tar", "inner:1")

    def test_outer_memory_limit_holds_for_inner_containers(self):
        image = self.env.ensure_dind_image()
        name = self.docker_run_d("--memory", "256m", "--", "sleep", "infinity", image=image)
        self.start_inner_dockerd(name)
        self.import_inner(name)
        self.assertEqual(self.docker_ok("exec", name, "cat",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes").out.strip(),
                         str(256 << 20))
        # An inner container asking for more still lives within the outer 256 MiB: the kernel's
        # limit over its whole hierarchy is the outer one. (Not shown by filling memory: with no
        # swap, reclaiming the inner daemons' page cache can take minutes before the OOM kill.)
        r = self.docker_ok("exec", name, "docker", "run", "--rm", "--network", "none",
                           "--memory", "1g", "inner:1", "grep", "hierarchical_memory_limit",
                           "/sys/fs/cgroup/memory/memory.stat")
        self.assertEqual(r.out.split(), ["hierarchical_memory_limit", str(256 << 20)], r)
        # Nor can root inside raise the limit it was given.
        r = self.docker("exec", name, "sh", "-c",
                        "echo 1073741824 > /sys/fs/cgroup/memory/memory.limit_in_bytes")
        self.assertNotEqual(r.rc, 0, r)
        self.assertEqual(self.docker_ok("exec", name, "cat",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes").out.strip(),
                         str(256 << 20))

    def test_two_system_containers_run_docker_side_by_side(self):
        image = self.env.ensure_dind_image()
        names = [self.docker_run_d("--", "sleep", "infinity", image=image) for _ in range(2)]
        bases = []
        for n in names:
            self.start_inner_dockerd(n)
            self.import_inner(n)
            r = self.docker_ok("exec", n, "docker", "run", "--rm", "--network", "none",
                               "inner:1", "cat", "/proc/self/uid_map")
            bases.append(int(r.out.split()[1]))
            self.assertEqual(bases[-1], self.outer_base(n))
        self.assertNotEqual(bases[0], bases[1])

    def test_isolation_from_the_host(self):
        image = self.env.ensure_dind_image()
        name = self.docker_run_d("--", "sleep", "infinity", image=image)
        # No host process is visible: the container's pid namespace holds only its own.
        pids = self.docker_ok("exec", name, "sh", "-c",
                              "ls /proc | grep -c '^[0-9]*$'").out.strip()
        self.assertLess(int(pids), 10)
        # The host's non-namespaced knobs and /sys stay out of reach.
        r = self.docker("exec", name, "bash", "-c", "echo 10 > /proc/sys/vm/swappiness")
        self.assertIn("Permission denied", r.err)
        r = self.docker("exec", name, "sh", "-c", "echo 1 > /sys/kernel/mm/ksm/run")
        self.assertNotEqual(r.rc, 0, r)
        # What root inside writes is owned by the container's range on the host.
        self.docker_ok("exec", name, "sh", "-c", "echo x > /var/lib/docker/mine")
        cid = self.inspect(name, "{{.Id}}")
        st = os.stat(os.path.join(e2e.DATA_DIR, "mgr-data", "docker", cid, "mine"))
        self.assertEqual(st.st_uid, self.outer_base(name))

    def test_fuse_and_tun_devices_when_asked(self):
        # What inner engines and VPNs ask for: given with --device, usable by root inside.
        image = self.env.ensure_dind_image()
        name = self.docker_run_d("--device", "/dev/fuse", "--device", "/dev/net/tun", "--",
                                 "sleep", "infinity", image=image)
        r = self.docker_ok("exec", name, "bash", "-c",
                           "stat -c '%F %u' /dev/fuse /dev/net/tun; "
                           "exec 3<>/dev/fuse && exec 4<>/dev/net/tun && echo opened")
        self.assertEqual(r.out.split("\n")[:3],
                         ["character special file 0", "character special file 0", "opened"], r)


if __name__ == "__main__":
    e2e.main()
