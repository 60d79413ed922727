#!/usr/bin/env python3
"""Podman (conmon -> sysvisor-runc) with its own storage: run --rm and exec."""

import unittest

import e2e
from e2e import wait_for


class PodmanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pm = e2e.Podman()
        cls.image = cls.pm.ensure_busybox_image()

    def setUp(self):
        self.names = []

    def name(self, tag):
        n = f"{e2e.PREFIX}{tag}-{len(self.names)}"
        self.names.append(n)
        return n

    def podman(self, *args, **kw):
        return self.pm.podman(*args, **kw)

    # Podman asks for RLIMIT_NOFILE and RLIMIT_NPROC 1048576 by default; this host's hard
    # limits are lower and without CAP_SYS_RESOURCE no runtime may raise them (runc and crun
    # fail the same way; test_rlimit_error checks our message), so the tests ask for less.
    RUN = ("run", "--network", "none", "--cgroup-parent", e2e.PODMAN_CGROUP_PARENT,
           "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")

    def tearDown(self):
        for n in self.names:
            self.podman("rm", "-f", "-t", "0", n)
        left = self.pm.containers()
        self.assertEqual(left, [], "podman containers left")

    def test_run_rm(self):
        r = self.podman(*self.RUN, "--rm", "--name", self.name("run"), self.image,
                        "sh", "-c", "echo from-podman; exit 5")
        self.assertEqual(r.rc, 5, r)
        self.assertEqual(r.out, "from-podman\n")

    def test_rlimit_error(self):
        # Podman's default limits, where the host's hard limits are lower: our message says
        # which limit, why, and what to ask for.
        import resource
        r = self.podman("run", "--network", "none", "--cgroup-parent",
                        e2e.PODMAN_CGROUP_PARENT, "--rm", "--name", self.name("rlimit"),
                        self.image, "true")
        if min(resource.getrlimit(resource.RLIMIT_NOFILE)[1],
               resource.getrlimit(resource.RLIMIT_NPROC)[1]) >= 1048576:
            self.assertEqual(r.rc, 0, r)  # a host that allows Podman's defaults
            return
        self.assertNotEqual(r.rc, 0, r)
        self.assertRegex(r.err, r"RLIMIT_(NOFILE|NPROC) hard limit 1048576")
        self.assertIn("CAP_SYS_RESOURCE", r.err)

    def test_default_seccomp_profile(self):
        # Podman's default profile repeats a rule and has rules libseccomp folds together on
        # 32-bit x86 (socket via socketcall); runc accepts it, so must we.
        r = self.podman(*self.RUN, "--rm", "--name", self.name("seccomp"), self.image,
                        "grep", "^Seccomp:", "/proc/self/status")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.split(), ["Seccomp:", "2"])

    def test_exec(self):
        n = self.name("exec")
        r = self.podman(*self.RUN, "-d", "--name", n, self.image, "sleep", "300")
        self.assertEqual(r.rc, 0, r)
        wait_for(lambda: self.podman("inspect", "-f", "{{.State.Running}}", n).out.strip()
                 == "true", 30, "the container to run")
        r = self.podman("exec", n, "sh", "-c", "echo exec-podman; cat /proc/1/cmdline")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.replace("\0", " ").split(), ["exec-podman", "sleep", "300"])
        self.assertEqual(self.podman("exec", n, "sh", "-c", "exit 3").rc, 3)
        r = self.podman("stop", "-t", "1", n, timeout=60)
        self.assertEqual(r.rc, 0, r)


if __name__ == "__main__":
    e2e.main()
