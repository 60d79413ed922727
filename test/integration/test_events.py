#!/usr/bin/env python3
"""`events`: --stats prints one JSON object shaped like runc 1.1's with the container's real
usage; without it, a stream of stats every --interval and an "oom" event per OOM kill that
ends when the container does."""

import json
import os
import time

import svtest
from svtest import ContainerTest

# runc 1.1.5's `events --stats` on a cgroup v1 host, key for key (the order is Go's struct
# order; zero-valued optional fields are left out, these never are).
RUNC_DATA_KEYS = ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                  "network_interfaces"]
RUNC_MEMORY_ENTRY_KEYS = {"limit", "failcnt"}


class Events(ContainerTest):
    def _bundle(self, args, resources=None):
        def mutate(s):
            s["linux"]["resources"].update(resources or {})
        return self.bundle(args=args, mutate=mutate)

    def _stats(self, cid):
        r = self.runc_ok("events", "--stats", cid)
        self.assertTrue(r.out.endswith("}\n"), r)
        self.assertEqual(r.out.count("\n"), 1, "one JSON object on one line")
        return json.loads(r.out)

    def test_stats_report_usage_and_limits(self):
        b = self._bundle(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
                                      "exec /probe alloc 24 hold"],
                         {"memory": {"limit": 128 << 20}, "pids": {"limit": 50}})
        cid = self.run_detached(b)
        deadline = time.monotonic() + 15
        while True:
            ev = self._stats(cid)
            usage = ev["data"]["memory"]["usage"].get("usage", 0)
            if usage >= 24 << 20 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(ev["type"], "stats")
        self.assertEqual(ev["id"], cid)
        data = ev["data"]
        self.assertEqual(list(data), RUNC_DATA_KEYS)
        mem = data["memory"]
        self.assertGreaterEqual(mem["usage"]["usage"], 24 << 20, "the probe's 24 MiB are counted")
        self.assertEqual(mem["usage"]["limit"], 128 << 20)
        for entry in ("usage", "swap", "kernel", "kernelTCP"):
            self.assertLessEqual(RUNC_MEMORY_ENTRY_KEYS, set(mem[entry]), entry)
        self.assertIsInstance(mem["raw"], dict)
        self.assertTrue(mem["raw"], "memory.stat is passed through")
        cpu = data["cpu"]
        self.assertGreater(cpu["usage"]["total"], 0, "the shell loop used cpu time")
        self.assertIn("kernel", cpu["usage"])
        self.assertIn("user", cpu["usage"])
        self.assertIsInstance(cpu["throttling"], dict)
        self.assertEqual(data["pids"]["limit"], 50)
        self.assertGreaterEqual(data["pids"]["current"], 1)
        self.assertEqual(data["intel_rdt"], {})
        self.assertIsNone(data["network_interfaces"])
        self.assertIsInstance(data["blkio"], dict)
        self.assertIsInstance(data["hugetlb"], dict)

    def test_stream_shows_stats_and_an_oom_and_ends_with_the_container(self):
        b = self._bundle(["sh", "-c", "while [ ! -e /go ]; do /probe sleep 0.05; done; "
                                      "/probe alloc 96; echo survived"],
                         {"memory": {"limit": 32 << 20}})
        cid = self.run_detached(b)
        p = self.popen("events", "--interval", "100ms", cid)
        deadline = time.monotonic() + 10
        while '"type":"stats"' not in self.read_output(p)[0]:
            self.assertIsNone(p.poll(), self.read_output(p))
            self.assertLess(time.monotonic(), deadline, "no stats event within 10s")
            time.sleep(0.05)
        open(os.path.join(b.rootfs, "go"), "w").close()
        try:
            rc = p.wait(timeout=20)
        except Exception:
            self.fail(f"events did not end with the container: {self.read_output(p)!r}")
        out, err = self.read_output(p)
        self.assertEqual(rc, 0, (out, err))
        events = [json.loads(line) for line in out.splitlines()]
        self.assertIn({"type": "oom", "id": cid}, events, out[-2000:])
        self.assertTrue(all(e["id"] == cid for e in events))
        self.assertGreaterEqual(sum(e["type"] == "stats" for e in events), 1)

    def test_errors(self):
        r = self.runc("events", "--stats", "svit-no-such-container")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("does not exist", r.err)
        cid = self.run_detached(self._bundle(["/probe", "sleep", "1000"]))
        r = self.runc("events", "--interval", "0s", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("greater than 0", r.err)
        r = self.runc("events", "--interval", "soon", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("soon", r.err)
        r = self.runc("events", cid, "extra")
        self.assertNotEqual(r.rc, 0)
        stopped = self.run_detached(self._bundle(["/probe", "exit", "0"]))
        self.wait_status(stopped, "stopped")
        r = self.runc("events", "--stats", stopped)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("is not running", r.err)


if __name__ == "__main__":
    svtest.main()
