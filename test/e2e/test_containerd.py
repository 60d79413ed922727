#!/usr/bin/env python3
"""containerd without Docker: `ctr` drives the runc shim (io.containerd.runc.v2), whose runc
binary is sysvisor-runc: the path Kubernetes takes through a RuntimeClass."""

import unittest

import e2e
from e2e import wait_for


class ContainerdTest(unittest.TestCase):
    docker = None
    ctrd = None

    @classmethod
    def setUpClass(cls):
        # The image comes from the private dockerd (no registry): docker save | ctr import.
        cls.docker = e2e.DockerEnv()
        cls.docker.start()
        e2e._cleanup_stack.append(cls.docker.stop)
        cls.ctrd = e2e.ContainerdEnv()
        cls.ctrd.start()
        e2e._cleanup_stack.append(cls.ctrd.stop)
        cls.image = cls.ctrd.import_from_docker(cls.docker, cls.docker.ensure_busybox_image())

    def setUp(self):
        self.ids = []

    def cid(self, tag):
        c = f"{e2e.PREFIX}{tag}-{len(self.ids)}"
        self.ids.append(c)
        return c

    def ctr(self, *args, **kw):
        return self.ctrd.ctr(*args, **kw)

    def ctr_ok(self, *args, **kw):
        r = self.ctr(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def task_status(self, cid):
        for line in self.ctr_ok("task", "ls").out.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[2]
        return None

    def tearDown(self):
        problems = []
        for c in self.ids:
            self.ctr("task", "kill", "-s", "SIGKILL", c)
            wait_for(lambda: self.task_status(c) in (None, "STOPPED"), 30, f"{c} to stop")
            self.ctr("task", "delete", c)
            self.ctr("container", "delete", c)
        left = [line.split()[0] for line in self.ctr_ok("container", "ls").out.splitlines()[1:]
                if line.startswith(e2e.PREFIX)]
        if left:
            problems.append(f"containers left: {left}")
        state = e2e.runtime_state(self.ctrd.runtime_root())
        if state:
            problems.append(f"sysvisor-runc state left: {state}")
        if problems:
            self.fail("\n".join(problems))

    def test_run_exit_code(self):
        c = self.cid("run")
        r = self.ctr("run", "--rm", "--runc-binary", e2e.RUNC, self.image, c,
                     "sh", "-c", "echo from-ctr; cat /proc/1/comm; exit 4")
        self.assertEqual(r.rc, 4, r)
        self.assertEqual(r.out.split(), ["from-ctr", "sh"])

    def test_exec_kill_delete(self):
        c = self.cid("task")
        self.ctr_ok("run", "-d", "--runc-binary", e2e.RUNC, self.image, c, "sleep", "300")
        wait_for(lambda: self.task_status(c) == "RUNNING", 30, "the task to run")
        r = self.ctr_ok("task", "exec", "--exec-id", "e1", c, "sh", "-c",
                        "readlink /proc/1/ns/pid; readlink /proc/self/ns/pid; echo exec-ok")
        lines = r.out.split()
        self.assertEqual(lines[0], lines[1])
        self.assertEqual(lines[2], "exec-ok")
        self.assertEqual(self.ctr("task", "exec", "--exec-id", "e2", c, "sh", "-c",
                                  "exit 9").rc, 9)
        ps = self.ctr_ok("task", "ps", c).out
        self.assertGreaterEqual(len(ps.splitlines()), 2, ps)
        self.ctr_ok("task", "pause", c)
        self.assertEqual(self.task_status(c), "PAUSED")
        self.ctr_ok("task", "resume", c)
        self.assertEqual(self.task_status(c), "RUNNING")
        # sleep as PID 1 has no SIGTERM handler, so the kernel ignores TERM: KILL it.
        self.ctr_ok("task", "kill", "-s", "SIGKILL", c)
        wait_for(lambda: self.task_status(c) == "STOPPED", 30, "the task to stop")
        self.ctr_ok("task", "delete", c)
        self.ctr_ok("container", "delete", c)
        self.assertEqual(e2e.runtime_state(self.ctrd.runtime_root()), [])


if __name__ == "__main__":
    e2e.main()
