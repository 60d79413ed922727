#!/usr/bin/env python3
"""OCI hooks through real containers: all six kinds run in order, each with the state it
should get on stdin and in the namespaces it should run in; a failing hook has the effect
runtime-spec 1.2 gives it (create fails and leaves nothing, start fails, or a warning)."""

import json
import os
import time

import svtest
from svtest import ContainerTest

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"]


def recorder(kind, log, extra=""):
    """A hook that appends '<kind> <mnt ns> <state json>' as one line to log."""
    script = (f'state=$(cat); echo "{kind} $(readlink /proc/self/ns/mnt) $state" >> "{log}"'
              f"{extra}")
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


class Hooks(ContainerTest):
    def hooks_bundle(self, hooks, args=("/probe", "sleep", "1000")):
        def mutate(s):
            s["hooks"] = hooks
        return self.bundle(args=list(args), mutate=mutate)

    def all_recording(self, b_log_in_container="/tmp/hooks.log"):
        host_log = os.path.join(self.tmp, "hooks.log")
        hooks = {k: [recorder(k, host_log)] for k in KINDS}
        # startContainer runs after pivot_root: its path and log are the container's.
        hooks["startContainer"] = [recorder("startContainer", b_log_in_container)]
        return host_log, hooks

    @staticmethod
    def read_log(path):
        rows = []
        if not os.path.exists(path):
            return rows
        with open(path) as f:
            for line in f:
                kind, ns, state = line.rstrip("\n").split(" ", 2)
                rows.append((kind, ns, json.loads(state)))
        return rows

    def test_every_hook_runs_in_order_with_its_state_and_namespace(self):
        host_log, hooks = self.all_recording()
        b = self.hooks_bundle(hooks)
        cid, _ = self.create(b)
        pid = self.state(cid)["pid"]
        rows = self.read_log(host_log)
        self.assertEqual([r[0] for r in rows], ["prestart", "createRuntime", "createContainer"])
        host_mnt = os.readlink("/proc/self/ns/mnt")
        init_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
        for kind, ns, state in rows:
            self.assertEqual(state["id"], cid)
            self.assertEqual(state["status"], "created", kind)
            self.assertEqual(state["pid"], pid, kind)
            self.assertEqual(state["bundle"], b.path)
            self.assertEqual(state["ociVersion"], b.spec["ociVersion"])
        self.assertEqual(rows[0][1], host_mnt, "prestart runs in the runtime's namespace")
        self.assertEqual(rows[1][1], host_mnt, "createRuntime runs in the runtime's namespace")
        self.assertEqual(rows[2][1], init_mnt, "createContainer runs in the container's")

        self.start(cid)
        rows = self.read_log(host_log)
        self.assertEqual([r[0] for r in rows][3:], ["poststart"])
        self.assertEqual(rows[3][2]["status"], "running")
        self.assertEqual(rows[3][2]["pid"], pid)
        inner = self.read_log(os.path.join(b.rootfs, "tmp/hooks.log"))
        self.assertEqual(len(inner), 1, inner)
        kind, ns, state = inner[0]
        self.assertEqual((kind, state["status"], state["pid"]), ("startContainer", "created", pid))
        self.assertEqual(ns, init_mnt)

        self.runc_ok("delete", "--force", cid)
        rows = self.read_log(host_log)
        self.assertEqual([r[0] for r in rows], ["prestart", "createRuntime", "createContainer",
                                                 "poststart", "poststop"])
        self.assertEqual(rows[4][2]["status"], "stopped")
        self.assertNotIn("pid", rows[4][2])
        self.check_clean()

    def test_run_foreground_runs_poststop_after_exit(self):
        host_log, hooks = self.all_recording()
        b = self.hooks_bundle(hooks, args=("/probe", "id"))
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual([x[0] for x in self.read_log(host_log)],
                         ["prestart", "createRuntime", "createContainer", "poststart",
                          "poststop"])
        self.check_clean()

    def test_failing_create_hooks_fail_create_and_leave_nothing(self):
        for kind in ("prestart", "createRuntime", "createContainer"):
            with self.subTest(kind=kind):
                host_log = os.path.join(self.tmp, f"fail-{kind}.log")
                hooks = {k: [recorder(k, host_log)] for k in KINDS}
                hooks[kind] = [{"path": "/bin/sh",
                                "args": ["sh", "-c", "echo broken-hook >&2; exit 3"]}]
                b = self.hooks_bundle(hooks)
                cid, r = self.create(b, expect_ok=False)
                self.assertNotEqual(r.rc, 0)
                self.assertIn(f"{kind} hook #0", r.err)
                self.assertIn("exit status 3", r.err)
                self.assertIn("broken-hook", r.err)
                kinds = [x[0] for x in self.read_log(host_log)]
                self.assertNotIn("poststart", kinds)
                self.assertEqual(kinds[-1], "poststop", "a failed create goes on to delete")
                self.check_clean()

    def test_failing_start_container_hook_fails_start(self):
        hooks = {"startContainer": [{"path": "/bin/sh",
                                     "args": ["sh", "-c", "echo no-start >&2; exit 4"]}]}
        cid, _ = self.create(self.hooks_bundle(hooks))
        r = self.runc("start", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("startContainer hook #0", r.err)
        self.assertIn("no-start", r.err)
        self.wait_status(cid, "stopped")
        self.runc_ok("delete", cid)
        self.check_clean()

    @svtest.sysvisor_only("runc fails start on a poststart failure; runtime-spec 1.2 warns")
    def test_failing_post_hooks_only_warn(self):
        log = os.path.join(self.tmp, "runtime.log")
        bad = {"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}
        hooks = {"poststart": [bad], "poststop": [bad]}
        b = self.hooks_bundle(hooks)
        cid = self.new_id("warn")
        r = self.runc("run", "-d", "-b", b.path, cid, global_args=("--log", log))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.state(cid)["status"], "running")
        r = self.runc("delete", "--force", cid, global_args=("--log", log))
        self.assertEqual(r.rc, 0, r)
        with open(log) as f:
            text = f.read()
        self.assertIn("poststart hook #0: exit status 5", text)
        self.assertIn("poststop hook #0: exit status 5", text)
        self.check_clean()

    def test_hook_timeout(self):
        hooks = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"],
                                    "timeout": 1}]}
        t0 = time.monotonic()
        cid, r = self.create(self.hooks_bundle(hooks), expect_ok=False)
        self.assertNotEqual(r.rc, 0)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertIn("createRuntime hook #0", r.err)
        self.check_clean()

    def test_bad_hooks_are_refused_before_anything_exists(self):
        hooks = {"poststart": [{"path": "relative/hook"}]}
        cid, r = self.create(self.hooks_bundle(hooks), expect_ok=False)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("hooks.poststart[0].path", r.err)
        self.check_clean()


if __name__ == "__main__":
    svtest.main()
