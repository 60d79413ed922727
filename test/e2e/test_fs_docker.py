#!/usr/bin/env python3
"""/proc and /sys emulation through Docker (issue 6): in a system container started with
`docker run --runtime sysvisor-runc`, uptime, free, nproc and /proc/cpuinfo describe the
container, sysctls are set inside without reaching the host or another container, and a killed
sysvisor-fs comes back under running containers."""

import os
import signal
import time

import e2e
from e2e import DockerTest, wait_for


def host(path):
    with open(path) as f:
        return f.read().strip()


class FsDockerTest(DockerTest):
    def sh(self, name, script):
        return self.docker_ok("exec", name, "sh", "-c", script).out.strip()

    def test_uptime_is_the_containers(self):
        name = self.docker_run_d("--", "sleep", "300")
        time.sleep(1.5)
        up = float(self.sh(name, "cat /proc/uptime").split()[0])
        self.assertGreaterEqual(up, 1.0)
        self.assertLess(up, 60)
        self.assertLess(up, float(host("/proc/uptime").split()[0]))
        self.assertIn("up ", self.sh(name, "uptime"))  # busybox's, from /proc/uptime

    def test_free_shows_the_memory_limit(self):
        # procps's free reads /proc/meminfo (busybox's asks sysinfo(2), which no /proc
        # emulation reaches).
        debian = self.env.ensure_debian_image()
        name = self.docker_run_d("--memory", "256m", "--", "sleep", "300", image=debian)
        total = self.sh(name, "free -m | awk '/^Mem:/ {print $2}'")
        self.assertEqual(total, "256")
        mem = self.sh(name, "grep MemTotal /proc/meminfo").split()
        self.assertEqual(mem[1], str(256 * 1024))
        self.assertIn("load average", self.sh(name, "uptime"))
        unlimited = self.docker_run_d("--", "sleep", "300")
        self.assertEqual(self.sh(unlimited, "grep MemTotal /proc/meminfo"),
                         [l for l in host("/proc/meminfo").splitlines()
                          if l.startswith("MemTotal")][0])

    def test_cpus_follow_the_cpuset(self):
        name = self.docker_run_d("--cpuset-cpus", "0", "--", "sleep", "300")
        self.assertEqual(self.sh(name, "nproc").strip(), "1")
        self.assertEqual(self.sh(name, "grep -c ^processor /proc/cpuinfo").strip(), "1")
        self.assertEqual(len([l for l in self.sh(name, "cat /proc/stat").splitlines()
                              if l.startswith("cpu")]), 2)

    def test_sysctls_stay_in_their_container(self):
        a = self.docker_run_d("--", "sleep", "300")
        b = self.docker_run_d("--", "sleep", "300")
        panic = host("/proc/sys/kernel/panic")
        self.sh(a, "sysctl -w kernel.panic=5")
        self.assertEqual(self.sh(a, "cat /proc/sys/kernel/panic"), "5")
        self.assertEqual(self.sh(b, "cat /proc/sys/kernel/panic"), panic)
        self.assertEqual(host("/proc/sys/kernel/panic"), panic)
        ttl = host("/proc/sys/net/ipv4/ip_default_ttl")
        forward = self.sh(b, "cat /proc/sys/net/ipv4/ip_forward")
        self.sh(a, "sysctl -w net.ipv4.ip_forward=1 net.ipv4.ip_default_ttl=77")
        self.assertEqual(self.sh(a, "cat /proc/sys/net/ipv4/ip_forward"), "1")
        self.assertEqual(self.sh(a, "cat /proc/sys/net/ipv4/ip_default_ttl"), "77")
        self.assertEqual(self.sh(b, "cat /proc/sys/net/ipv4/ip_forward"), forward)
        self.assertEqual(self.sh(b, "cat /proc/sys/net/ipv4/ip_default_ttl"), ttl)
        self.assertEqual(host("/proc/sys/net/ipv4/ip_default_ttl"), ttl)
        r = self.docker("exec", a, "sh", "-c", "echo 10 > /proc/sys/vm/swappiness")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("Permission denied", r.err)
        self.assertEqual(self.sh(a, "cat /proc/sys/vm/swappiness"), host("/proc/sys/vm/swappiness"))
        ls = self.sh(a, "ls -ln /proc/sys/kernel | grep -v ^total | awk '{print $3\":\"$4}' | sort -u")
        self.assertEqual(ls.split(), ["0:0"])

    def test_docker_sysctl_flags_go_through_the_emulation(self):
        # Spec sysctls are written after the binds, so through sysvisor-fs: ipc knobs as the
        # container's root (the kernel lets no one else), net knobs in its network namespace.
        name = self.docker_run_d("--sysctl", "kernel.shmmax=1073741824",
                                 "--sysctl", "net.ipv4.ip_default_ttl=33", "--", "sleep", "300")
        self.assertEqual(self.sh(name, "cat /proc/sys/kernel/shmmax"), "1073741824")
        self.assertEqual(self.sh(name, "cat /proc/sys/net/ipv4/ip_default_ttl"), "33")
        self.assertNotEqual(host("/proc/sys/kernel/shmmax"), "1073741824")
        # A knob the container may not set fails the create with the kernel's word for it.
        r = self.docker("run", "--rm", "--runtime", e2e.RUNTIME, "--network", "none",
                        "--name", self.name("deny"), "--sysctl", "kernel.msgmax=-5", self.image,
                        "true")
        self.assertNotEqual(r.rc, 0)

    def test_limits_raise_the_host_but_never_lower_it(self):
        # nf_conntrack_max behaves the same when the module is loaded; fs.nr_open always exists.
        a = self.docker_run_d("--", "sleep", "300")
        before = int(host("/proc/sys/fs/nr_open"))
        try:
            self.sh(a, f"sysctl -w fs.nr_open={before + 1024}")
            self.assertEqual(int(host("/proc/sys/fs/nr_open")), before + 1024)
            self.sh(a, f"sysctl -w fs.nr_open={before - 1024}")
            self.assertEqual(self.sh(a, "cat /proc/sys/fs/nr_open"), f"{before - 1024}")
            self.assertEqual(int(host("/proc/sys/fs/nr_open")), before + 1024)
        finally:
            with open("/proc/sys/fs/nr_open", "w") as f:
                f.write(str(before))

    def test_uuids(self):
        a = self.docker_run_d("--", "sleep", "300")
        b = self.docker_run_d("--", "sleep", "300")
        uuids = self.sh(a, "for i in 1 2 3 4 5 6 7 8 9 10; do cat /proc/sys/kernel/random/uuid; done")
        self.assertEqual(len(set(uuids.split())), 10)
        path = "/sys/devices/virtual/dmi/id/product_uuid"
        if os.path.exists(path):
            pa = self.sh(a, f"cat {path}")
            self.assertEqual(pa, self.sh(a, f"cat {path}"))
            self.assertNotEqual(pa, self.sh(b, f"cat {path}"))
            self.assertNotEqual(pa, host(path))
        else:
            # No DMI on this machine (a VM without it): sysfs has no such file to mount over
            # inside either, so the runtime skips it; the daemon still serves one per container.
            self.assertEqual(self.docker("exec", a, "cat", path).rc, 1)
            ids = [self.inspect(n, "{{.Id}}") for n in (a, b)]
            pa, pb = (host(os.path.join(e2e.FS.mnt, i) + path) for i in ids)
            self.assertRegex(pa, r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            self.assertNotEqual(pa, pb)

    def test_kill9_of_sysvisor_fs_and_restart(self):
        name = self.docker_run_d("--", "sleep", "300")
        self.sh(name, "sysctl -w kernel.panic=9")
        fs = e2e.FS
        fs.daemon.proc.send_signal(signal.SIGKILL)
        fs.daemon.proc.wait()
        fs.daemon.proc = None
        fs.start()
        t0 = time.monotonic()
        wait_for(lambda: self.docker("exec", name, "cat", "/proc/uptime").rc == 0, 5,
                 "the container to read /proc/uptime again")
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertEqual(self.sh(name, "cat /proc/sys/kernel/panic"), "9")
        # New containers are served by the new daemon as well.
        other = self.docker_run_d("--", "sleep", "300")
        self.assertGreater(float(self.sh(other, "cat /proc/uptime").split()[0]), 0)

    def test_kill9_of_sysvisor_fs_and_its_fd_holder(self):
        # The FUSE connection dies with both: the next daemon mounts anew and swaps the dead
        # binds inside the running container for live ones (no restart of the container).
        name = self.docker_run_d("--", "sleep", "300")
        self.sh(name, "sysctl -w kernel.panic=4")
        fs = e2e.FS
        holder = int(host(os.path.join(fs.dir, "fs", "holder.pid")))
        fs.daemon.proc.send_signal(signal.SIGKILL)
        fs.daemon.proc.wait()
        fs.daemon.proc = None
        os.kill(holder, signal.SIGKILL)
        r = self.docker("exec", name, "cat", "/proc/uptime")
        self.assertIn("Transport endpoint is not connected", r.err)
        fs.start()
        up = float(self.sh(name, "cat /proc/uptime").split()[0])
        self.assertLess(up, 120)
        self.assertEqual(self.sh(name, "cat /proc/sys/kernel/panic"), "4")
        self.assertEqual(self.sh(name, "grep -c ' /proc/uptime ' /proc/self/mountinfo"), "1")


if __name__ == "__main__":
    e2e.main()
