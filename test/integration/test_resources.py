#!/usr/bin/env python3
"""linux.resources applied to the container's cgroups before its init runs: the limits are in
the host's cgroup files, visible inside, and enforced."""

import glob
import os

import svtest
from svtest import ContainerTest


def host_knob(controller, cid, name):
    paths = glob.glob(f"/sys/fs/cgroup/{controller}/**/{cid}/{name}", recursive=True)
    assert len(paths) == 1, (controller, cid, name, paths)
    with open(paths[0]) as f:
        return f.read().strip()


class Resources(ContainerTest):
    def _bundle(self, resources, args):
        def mutate(s):
            s["linux"]["resources"].update(resources)
            if not any(n["type"] == "cgroup" for n in s["linux"]["namespaces"]):
                s["linux"]["namespaces"].append({"type": "cgroup"})
        return self.bundle(args=args, mutate=mutate)

    def test_limits_land_in_the_host_cgroup_files(self):
        b = self._bundle({"memory": {"limit": 64 << 20, "swappiness": 10},
                          "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                          "pids": {"limit": 20}}, ["/probe", "sleep", "1000"])
        cid = self.run_detached(b)
        self.assertEqual(host_knob("memory", cid, "memory.limit_in_bytes"), str(64 << 20))
        self.assertEqual(host_knob("memory", cid, "memory.swappiness"), "10")
        self.assertEqual(host_knob("cpu", cid, "cpu.shares"), "512")
        self.assertEqual(host_knob("cpu", cid, "cpu.cfs_quota_us"), "50000")
        self.assertEqual(host_knob("pids", cid, "pids.max"), "20")

    def test_limit_visible_inside(self):
        b = self._bundle({"memory": {"limit": 32 << 20}},
                         ["/probe", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.strip(), str(32 << 20))

    def test_pids_limit_enforced(self):
        script = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /probe sleep 2 & done; echo forked"]
        r = self.run_container(self._bundle({"pids": {"limit": 6}}, script))
        self.assertNotEqual(r.rc, 0, f"pids.max 6 must stop the 10 forks: {r!r}")
        self.assertIn("fork", r.err)
        self.assertNotIn("forked", r.out)
        r = self.run_container(self._bundle({"pids": {"limit": 30}}, script))
        self.assertEqual(r.rc, 0, f"30 pids are enough for 11 processes: {r!r}")
        self.assertIn("forked", r.out)

    def test_bad_resources_leave_nothing(self):
        b = self._bundle({"memory": {"limit": "64m"}}, ["/probe", "id"])
        r = self.run_container(b)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("linux.resources.memory.limit", r.err)
        self.check_clean()


class Update(ContainerTest):
    def test_update_flags_and_resources_file(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        self.runc_ok("update", "--memory", "48m", "--pids-limit", "9", "--cpu-share", "300", cid)
        self.assertEqual(host_knob("memory", cid, "memory.limit_in_bytes"), str(48 << 20))
        self.assertEqual(host_knob("pids", cid, "pids.max"), "9")
        self.assertEqual(host_knob("cpu", cid, "cpu.shares"), "300")
        r = self.runc("update", "--resources", "-", cid, input='{"pids": {"limit": 12}}')
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(host_knob("pids", cid, "pids.max"), "12")

    def test_update_errors(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        r = self.runc("update", "--memory", "12x", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("memory", r.err)
        self.assertIn("12x", r.err)
        r = self.runc("update", "--pids-limit", "5", "svit-no-such-container")
        self.assertIn("does not exist", r.err)


if __name__ == "__main__":
    svtest.main()
