#!/usr/bin/env python3
"""exec: a new process in a running container's namespaces and cgroups, with runc's flags."""

import json
import os
import signal
import subprocess
import time

import svtest
from svtest import ContainerTest, parse_kv


class Exec(ContainerTest):
    def _running(self, args=("/probe", "sleep", "1000")):
        b = self.bundle(args=list(args))
        os.makedirs(os.path.join(b.rootfs, "work"), exist_ok=True)
        return self.run_detached(b)

    def test_exec_joins_the_container_namespaces(self):
        cid = self._running()
        init = self.state(cid)["pid"]
        r = self.runc("exec", cid, "/probe", "ns")
        self.assertEqual(r.rc, 0, r)
        inside = parse_kv(r.out)
        for ns in ("mnt", "pid", "net", "ipc", "uts"):
            self.assertEqual(inside[ns], os.readlink(f"/proc/{init}/ns/{ns}"), ns)

    def test_exit_code_passes_through(self):
        cid = self._running()
        self.assertEqual(self.runc("exec", cid, "/probe", "exit", "7").rc, 7)
        self.assertEqual(self.runc("exec", cid, "sh", "-c", "kill -TERM $$").rc, 128 + 15)

    def test_env_user_cwd_flags(self):
        cid = self._running()
        r = self.runc("exec", "--env", "FOO=bar", "--env", "BAZ=1", "--user", "1000:1001",
                      "--cwd", "/work", cid, "sh", "-c", 'echo "$FOO $BAZ"; /probe id; /probe cwd')
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "bar 1")
        kv = parse_kv("\n".join(lines[1:]))
        self.assertEqual((kv["uid"], kv["gid"]), ("1000", "1001"))
        self.assertIn("/work", r.out.splitlines()[-1])

    def test_detach_pid_file_and_cgroup(self):
        cid = self._running()
        pidfile = os.path.join(self.tmp, "exec.pid")
        r = self.runc("exec", "--detach", "--pid-file", pidfile, cid, "/probe", "sleep", "1000")
        self.assertEqual(r.rc, 0, r)
        with open(pidfile) as f:
            pid = int(f.read())
        pids = json.loads(self.runc_ok("ps", "--format", "json", cid).out)
        self.assertIn(pid, pids, "the exec'd process must be in the container's cgroup")
        self.runc_ok("kill", "--all", cid, "KILL")
        self.wait_status(cid, "stopped")

    def test_process_file(self):
        cid = self._running()
        proc = {"terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
                "args": ["/probe", "env"], "env": ["ONLY=this", "PATH=/bin"]}
        path = os.path.join(self.tmp, "process.json")
        with open(path, "w") as f:
            json.dump(proc, f)
        r = self.runc("exec", "--process", path, cid)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("ONLY=this", r.out.split())

    def test_signal_forwarded_to_exec_process(self):
        cid = self._running()
        p = self.popen("exec", cid, "sh", "-c",
                            'trap "exit 42" USR1; echo ready; while :; do sleep 0.05; done')
        deadline = time.monotonic() + 5
        while "ready" not in self.read_output(p)[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGUSR1)
        self.assertEqual(p.wait(timeout=10), 42)

    def test_errors(self):
        cid = self._running()
        r = self.runc("exec", cid, "no-such-command")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("executable file not found", r.err)
        r = self.runc("exec", "svit-no-such-container", "true")
        self.assertIn("does not exist", r.err)
        b = self.bundle(args=["/probe", "exit", "0"])
        stopped = self.run_detached(b)
        self.wait_status(stopped, "stopped")
        r = self.runc("exec", stopped, "true")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("stopped", r.err)


    def test_exec_into_a_sub_cgroup(self):
        cid = self._running()
        init = self.state(cid)["pid"]
        with open(f"/proc/{init}/cgroup") as f:
            pids_path = [l.split(":", 2)[2] for l in f.read().splitlines()
                         if l.split(":")[1] == "pids"][0]
        sub = f"/sys/fs/cgroup/pids{pids_path}/sub"
        os.mkdir(sub)
        # A dot-named one below (systemd's ".control"): delete removes it too.
        control = os.path.join(sub, ".control")
        os.mkdir(control)
        self.addCleanup(lambda: os.path.isdir(sub) and os.rmdir(sub))
        self.addCleanup(lambda: os.path.isdir(control) and os.rmdir(control))
        r = self.runc("exec", "--cgroup", "pids:sub", cid, "/bin/cat", "/proc/self/cgroup")
        self.assertEqual(r.rc, 0, r)
        mine = [l for l in r.out.splitlines() if l.split(":")[1] == "pids"][0]
        self.assertTrue(mine.endswith("/sub"), mine)
        # Every hierarchy (no controller named): sub must exist in all of them.
        r = self.runc("exec", "--cgroup", "sub", cid, "/probe", "id")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("/sub", r.err)
        r = self.runc("exec", "--cgroup", "pids:../../x", cid, "/probe", "id")
        self.assertNotEqual(r.rc, 0)
        self.runc_ok("delete", "--force", cid)
        self.assertFalse(os.path.exists(sub), "delete removes sub-cgroups too")

    @svtest.sysvisor_only("runc's exec -d --ignore-paused hangs on the frozen process")
    def test_exec_in_a_paused_container_needs_ignore_paused(self):
        cid = self._running()
        self.runc_ok("pause", cid)
        r = self.runc("exec", "-d", cid, "/probe", "sleep", "100")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("paused", r.err)
        r = self.runc("exec", "-d", "--ignore-paused", cid, "/probe", "sleep", "100")
        self.assertEqual(r.rc, 0, r)
        self.runc_ok("resume", cid)
        self.assertEqual(len(json.loads(self.runc_ok("ps", "--format", "json", cid).out)), 2)


if __name__ == "__main__":
    svtest.main()
