#!/usr/bin/env python3
"""pause / resume (freezer) and ps, checked from the host: a paused container's counter stops
and its processes are in the frozen state; ps lists exactly the container's processes."""

import os
import time

import svtest
from svtest import ContainerTest


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class Pause(ContainerTest):
    def _counter(self):
        counter = os.path.join(self.tmp, "shared")
        os.makedirs(counter, exist_ok=True)

        def mutate(s):
            s["mounts"].append({"destination": "/shared", "type": "bind", "source": counter,
                                "options": ["rbind", "rw"]})
        b = self.bundle(args=["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /shared/n; "
                              "sleep 0.02; done"], mutate=mutate)
        cid = self.run_detached(b)
        path = os.path.join(counter, "n")
        self.wait_file(path, nonempty=True)
        return cid, path

    @staticmethod
    def _read(path):
        with open(path) as f:
            return f.read().strip()

    def test_pause_stops_and_resume_restarts(self):
        cid, path = self._counter()
        self.runc_ok("pause", cid)
        self.assertEqual(self.state(cid)["status"], "paused")
        before = self._read(path)
        time.sleep(0.3)
        self.assertEqual(self._read(path), before, "a paused container must not run")
        list_line = [l for l in self.runc_ok("list").out.splitlines() if l.startswith(cid)]
        self.assertIn("paused", list_line[0])
        self.runc_ok("resume", cid)
        self.assertEqual(self.state(cid)["status"], "running")
        deadline = time.monotonic() + 5
        while self._read(path) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertNotEqual(self._read(path), before, "a resumed container must run again")

    def test_pause_and_resume_in_the_wrong_state_fail(self):
        cid, _ = self._counter()
        r = self.runc("resume", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("not paused", r.err)
        self.runc_ok("pause", cid)
        self.runc_ok("kill", cid, "KILL")  # a frozen container only dies once thawed
        r = self.runc("delete", "--force", cid)
        self.assertEqual(r.rc, 0, r)
        self.check_clean()

    def test_delete_force_of_paused_container(self):
        cid, _ = self._counter()
        pid = self.state(cid)["pid"]
        self.runc_ok("pause", cid)
        r = self.runc("delete", "--force", cid)
        self.assertEqual(r.rc, 0, r)
        self.assertIn(proc_state(pid), (None, "Z", "X"))
        self.check_clean()

    def test_pause_stopped_container_fails(self):
        b = self.bundle(args=["/probe", "exit", "0"])
        cid = self.run_detached(b)
        self.wait_status(cid, "stopped")
        r = self.runc("pause", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("not running", r.err)


class Ps(ContainerTest):
    def test_ps_json_lists_the_container_processes(self):
        b = self.bundle(args=["sh", "-c", "/probe sleep 1000 & /probe sleep 1000 & wait"])
        cid = self.run_detached(b)
        init = self.state(cid)["pid"]
        deadline = time.monotonic() + 5
        while True:
            pids = svtest.json.loads(self.runc_ok("ps", "--format", "json", cid).out)
            if len(pids) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(pids), 3, pids)
        self.assertIn(init, pids)
        self.assertNotIn(os.getpid(), pids)
        for p in pids:
            if p != init:
                with open(f"/proc/{p}/cmdline") as f:
                    self.assertEqual(f.read().split("\0")[:2], ["/probe", "sleep"])

    def test_ps_table_filters_host_ps(self):
        b = self.bundle(args=["/probe", "sleep", "1000"])
        cid = self.run_detached(b)
        init = self.state(cid)["pid"]
        out = self.runc_ok("ps", cid).out.splitlines()
        self.assertIn("PID", out[0].split())
        self.assertEqual(len(out), 2, out)
        self.assertIn(str(init), out[1].split())
        custom = self.runc_ok("ps", cid, "-o", "pid,comm").out.splitlines()
        self.assertEqual(custom[0].split(), ["PID", "COMMAND"])
        self.assertEqual(custom[1].split(), [str(init), "probe"])

    def test_ps_unknown_container(self):
        r = self.runc("ps", "svit-no-such-container")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("does not exist", r.err)


if __name__ == "__main__":
    svtest.main()
