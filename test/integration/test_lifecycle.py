#!/usr/bin/env python3
"""Lifecycle commands: create/start/state/list/kill/delete/run and the global flags.

Everything here must behave exactly like runc 1.1.5 (run with SV_RUNC=/usr/sbin/runc)."""

import datetime
import json
import os
import re
import signal
import time

import svtest
from svtest import ContainerTest, read_text

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

# A container that runs until the host creates rootfs/tmp/go, then exits 0.
WAIT_GO = ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done"]


def parse_rfc3339(s):
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    base, frac, tz = m.groups()
    tz = "+00:00" if tz == "Z" else tz
    frac = (frac or ".0")[:7]
    return datetime.datetime.fromisoformat(base + frac + tz)


def tabwriter(rows, minwidth=12, padding=3):
    """What Go's text/tabwriter (minwidth 12, padding 3, as `runc list` uses) prints: every
    cell but the last of a line is padded to its column's width."""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], max(minwidth, len(cell) + padding))
    lines = []
    for r in rows:
        line = "".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + r[-1]
        lines.append(line)
    return "\n".join(lines) + "\n"


class CreateStartState(ContainerTest):
    def test_create_state_start_stopped(self):
        b = self.bundle(args=WAIT_GO)
        pidfile = os.path.join(self.tmp, "init.pid")
        before = datetime.datetime.now(datetime.timezone.utc)
        cid, _ = self.create(b, extra=["--pid-file", pidfile])
        with open(pidfile) as f:
            raw = f.read()
        self.assertRegex(raw, r"^[1-9][0-9]*$", "pid file must hold the bare decimal pid")
        st = self.state(cid)
        self.assertEqual(st["id"], cid)
        self.assertEqual(st["status"], "created")
        self.assertEqual(st["pid"], int(raw))
        self.assertTrue(os.path.isdir(f"/proc/{st['pid']}"))
        self.assertTrue(st["ociVersion"].startswith("1."), st)
        self.assertEqual(st["bundle"], b.path)
        self.assertEqual(st["rootfs"], b.rootfs)
        self.assertTrue(os.path.isabs(st["rootfs"]))
        self.assertRegex(st["created"], RFC3339)
        created = parse_rfc3339(st["created"])
        self.assertLess(abs((created - before).total_seconds()), 60)

        self.start(cid)
        st2 = self.wait_status(cid, "running")
        self.assertEqual(st2["pid"], st["pid"])
        self.assertEqual(st2["created"], st["created"])

        open(os.path.join(b.rootfs, "tmp", "go"), "w").close()
        st3 = self.wait_status(cid, "stopped")
        self.assertEqual(st3["pid"], 0, "runc reports pid 0 once stopped")
        self.assertEqual(st3["id"], cid)
        self.assertIn(svtest.proc_state(st["pid"]), (None, "Z", "X"), "init must be gone")
        self.runc_ok("delete", cid)
        r = self.runc("state", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("does not exist", r.err)
        self.check_clean()

    def test_bundle_relative_path(self):
        b = self.bundle(args=["/probe", "id"])
        cid = self.new_id()
        r = self.runc("create", "--bundle", os.path.basename(b.path), cid, cwd=self.tmp)
        self.assertEqual(r.rc, 0, r)
        st = self.state(cid)
        self.assertEqual(st["bundle"], b.path, "bundle must be stored absolute")
        self.assertEqual(st["rootfs"], b.rootfs)

    def test_bundle_defaults_to_cwd(self):
        b = self.bundle(args=["/probe", "id"])
        cid = self.new_id()
        self.assertEqual(self.runc("create", cid, cwd=b.path).rc, 0)
        self.assertEqual(self.state(cid)["bundle"], b.path)

    def test_pid_file_relative(self):
        b = self.bundle(args=["/probe", "id"])
        cid = self.new_id()
        r = self.runc("create", "--bundle", b.path, "--pid-file", "rel.pid", cid, cwd=self.tmp)
        self.assertEqual(r.rc, 0, r)
        with open(os.path.join(self.tmp, "rel.pid")) as f:
            self.assertEqual(f.read(), str(self.state(cid)["pid"]))

    def test_start_runs_process_once(self):
        b = self.bundle(args=["/probe", "write-stdout", "started"])
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, stdout=out)
        self.assertEqual(read_text(out), "", "process must not run before start")
        self.start(cid)
        self.wait_status(cid, "stopped")
        self.assertEqual(read_text(out), "started")
        r = self.runc("start", cid)
        self.assertNotEqual(r.rc, 0, "starting a stopped container must fail")


class List(ContainerTest):
    def test_list_table_json_quiet(self):
        b = self.bundle(args=WAIT_GO)
        cid, _ = self.create(b)
        st = self.state(cid)
        r = self.runc_ok("list")
        expected = tabwriter([
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
            [cid, str(st["pid"]), "created", b.path, st["created"], "root"],
        ])
        self.assertEqual(r.out, expected)

        r = self.runc_ok("list", "--format", "json")
        entries = json.loads(r.out)
        self.assertEqual(len(entries), 1)
        e = entries[0]
        self.assertEqual((e["id"], e["pid"], e["status"], e["bundle"], e["rootfs"], e["owner"]),
                         (cid, st["pid"], "created", b.path, b.rootfs, "root"))
        self.assertEqual(e["created"], st["created"])

        self.assertEqual(self.runc_ok("list", "-q").out, cid + "\n")
        self.assertEqual(json.loads(self.runc_ok("list", "-f", "json").out), entries)

        self.start(cid)
        self.wait_status(cid, "running")
        self.assertIn("running", self.runc_ok("list").out.splitlines()[1].split())

    def test_list_empty_root(self):
        root = os.path.join(self.tmp, "emptyroot")
        r = self.runc("list", root=root)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, tabwriter([["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                            "OWNER"]]))
        r = self.runc("list", "--format", "json", root=root)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.strip(), "null", "runc prints JSON null for no containers")
        self.assertEqual(self.runc("list", "-q", root=root).out, "")


class Kill(ContainerTest):
    def _kill_with(self, sig):
        b = self.bundle(args=["/probe", "sleep", "60"])
        cid = self.run_detached(b)
        pid = self.state(cid)["pid"]
        self.runc_ok("kill", cid, sig)
        self.wait_status(cid, "stopped")
        self.assertNotIn(svtest.proc_state(pid), ("S", "R", "D"))

    def test_kill_by_name(self):
        self._kill_with("KILL")

    def test_kill_by_sig_name(self):
        self._kill_with("SIGKILL")

    def test_kill_by_number(self):
        self._kill_with("9")

    def test_kill_default_is_sigterm(self):
        b = self.bundle(args=["sh", "-c", "trap 'exit 7' TERM; touch /tmp/ready; "
                              "while :; do sleep 0.05; done"])
        cid = self.run_detached(b)
        self.wait_file(os.path.join(b.rootfs, "tmp", "ready"))
        # Without a handler pid 1 would ignore SIGTERM; the trap proves the signal arrived.
        self.runc_ok("kill", cid)
        self.wait_status(cid, "stopped")

    def test_kill_usr1_delivered(self):
        b = self.bundle(args=["sh", "-c", "trap 'touch /tmp/got; exit 0' USR1; "
                              "touch /tmp/ready; while :; do sleep 0.05; done"])
        cid = self.run_detached(b)
        self.wait_file(os.path.join(b.rootfs, "tmp", "ready"))
        self.runc_ok("kill", cid, "USR1")
        self.wait_status(cid, "stopped")
        self.assertTrue(os.path.exists(os.path.join(b.rootfs, "tmp", "got")))

    def test_kill_all(self):
        # No pid namespace: killing init alone would leave the background child running.
        b = self.bundle(args=["sh", "-c", "/probe sleep 60 & echo $! > /tmp/child; "
                              "while :; do sleep 0.05; done"])
        b.drop_namespace("pid")
        cid = self.run_detached(b)
        child = int(self.wait_file(os.path.join(b.rootfs, "tmp", "child"),
                                         nonempty=True).strip())
        self.assertIn(svtest.proc_state(child), ("S", "R"))
        self.runc_ok("kill", "--all", cid, "KILL")
        self.wait_status(cid, "stopped")
        deadline = time.monotonic() + 5
        while svtest.proc_state(child) not in (None, "Z", "X") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(svtest.proc_state(child), (None, "Z", "X"), "--all must kill every process")

    def test_kill_stopped_container_fails(self):
        b = self.bundle(args=["/probe", "exit", "0"])
        cid = self.run_detached(b)
        self.wait_status(cid, "stopped")
        r = self.runc("kill", cid, "KILL")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("not running", r.err)

    def test_kill_created_container(self):
        b = self.bundle(args=["/probe", "id"])
        cid, _ = self.create(b)
        pid = self.state(cid)["pid"]
        self.runc_ok("kill", cid, "KILL")
        self.wait_status(cid, "stopped")
        self.assertIn(svtest.proc_state(pid), (None, "Z", "X"))


class Delete(ContainerTest):
    def test_delete_stopped(self):
        b = self.bundle(args=["/probe", "exit", "0"])
        cid = self.run_detached(b)
        self.wait_status(cid, "stopped")
        self.assertTrue(os.path.isdir(os.path.join(self.root, cid)))
        self.runc_ok("delete", cid)
        self.assertFalse(os.path.exists(os.path.join(self.root, cid)))
        self.check_clean()

    def test_delete_created_kills_init(self):
        b = self.bundle(args=["/probe", "id"])
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, stdout=out)
        pid = self.state(cid)["pid"]
        self.runc_ok("delete", cid)
        deadline = time.monotonic() + 5
        while svtest.proc_state(pid) not in (None, "Z", "X") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(svtest.proc_state(pid), (None, "Z", "X"))
        self.assertEqual(read_text(out), "", "a deleted created container must never run")
        self.check_clean()

    def test_delete_running_requires_force(self):
        b = self.bundle(args=["/probe", "sleep", "60"])
        cid = self.run_detached(b)
        r = self.runc("delete", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("running", r.err)
        self.assertEqual(self.state(cid)["status"], "running")
        self.runc_ok("delete", "--force", cid)
        self.assertFalse(os.path.exists(os.path.join(self.root, cid)))
        self.check_clean()

    def test_delete_force_short_flag(self):
        b = self.bundle(args=["/probe", "sleep", "60"])
        cid = self.run_detached(b)
        self.runc_ok("delete", "-f", cid)
        self.check_clean()

    def test_delete_unknown(self):
        r = self.runc("delete", "svit-does-not-exist")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("does not exist", r.err)

    def test_delete_force_unknown_succeeds(self):
        r = self.runc("delete", "--force", "svit-does-not-exist")
        self.assertEqual(r.rc, 0, r)


class Run(ContainerTest):
    def test_exit_zero(self):
        self.assertEqual(self.probe("exit", "0").rc, 0)
        self.check_clean()

    def test_exit_three(self):
        r = self.probe("exit", "3", expect_rc=3)
        self.assertEqual(r.rc, 3)

    def _killself(self, sig):
        # pid 1 of a pid namespace ignores signals it has no handler for: drop the pid ns.
        b = self.bundle(args=["/probe", "kill-self", sig.name])
        b.drop_namespace("pid")
        return self.run_container(b).rc

    def test_exit_signal_term(self):
        self.assertEqual(self._killself(signal.SIGTERM), 128 + signal.SIGTERM)

    def test_exit_signal_kill(self):
        self.assertEqual(self._killself(signal.SIGKILL), 128 + signal.SIGKILL)

    def test_run_removes_container(self):
        b = self.bundle(args=["/probe", "exit", "0"])
        cid = self.new_id()
        self.assertEqual(self.run_container(b, cid=cid).rc, 0)
        self.assertFalse(os.path.exists(os.path.join(self.root, cid)))
        self.assertNotEqual(self.runc("state", cid).rc, 0)

    def test_run_detach(self):
        b = self.bundle(args=["/probe", "sleep", "60"])
        t0 = time.monotonic()
        cid = self.run_detached(b)
        self.assertLess(time.monotonic() - t0, 20)
        st = self.state(cid)
        self.assertEqual(st["status"], "running")
        self.assertTrue(os.path.isdir(f"/proc/{st['pid']}"))

    def _forward(self, sig, code):
        b = self.bundle(args=["sh", "-c", f"trap 'exit {code}' {sig.name[3:]}; touch /tmp/ready; "
                              "while :; do sleep 0.05; done"])
        cid = self.new_id()
        p = self.popen("run", "--bundle", b.path, cid)
        self.wait_file(os.path.join(b.rootfs, "tmp", "ready"))
        p.send_signal(sig)
        self.assertEqual(p.wait(timeout=15), code, self.read_output(p))

    def test_signal_forwarding_usr1(self):
        self._forward(signal.SIGUSR1, 42)

    def test_signal_forwarding_term(self):
        self._forward(signal.SIGTERM, 43)

    def test_stdin_readable(self):
        b = self.bundle(args=["/probe", "echo-stdin"])
        r = self.run_container(b, input="hello from stdin\n")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "hello from stdin\n")

    def test_stdout_stderr_reach_caller(self):
        b = self.bundle(args=["sh", "-c", "/probe write-stdout OUT; /probe write-stderr ERR"])
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out), (0, "OUT"), r)
        self.assertIn("ERR", r.err)

    def test_create_stdio_inherited(self):
        b = self.bundle(args=["sh", "-c", "/probe write-stdout OUT; /probe write-stderr ERR"])
        out, err = os.path.join(self.tmp, "o"), os.path.join(self.tmp, "e")
        cid, _ = self.create(b, stdout=out, stderr=err)
        self.start(cid)
        self.wait_status(cid, "stopped")
        self.assertEqual(read_text(out), "OUT")
        self.assertEqual(read_text(err), "ERR")

    def _run_with_fd3(self, b, path, extra=()):
        # The shell opens fd 3 on `path` and execs the runtime, which then holds fds 0-3.
        cid = self.new_id("fd")
        argv = ["sh", "-c", 'exec 3<"$0"; exec "$@"', path, svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", self.root,
                "run", "--bundle", b.path, *extra, cid]
        return svtest.run_argv(argv)

    def test_preserve_fds(self):
        data = os.path.join(self.tmp, "data")
        with open(data, "w") as f:
            f.write("preserved-content")
        b = self.bundle(args=["/probe", "cat", "/proc/self/fd/3"])
        r = self._run_with_fd3(b, data, extra=["--preserve-fds", "1"])
        self.assertEqual((r.rc, r.out), (0, "preserved-content"), r)

    def test_fd_not_preserved_by_default(self):
        data = os.path.join(self.tmp, "data")
        open(data, "w").close()
        b = self.bundle(args=["/probe", "fds"])
        r = self._run_with_fd3(b, data)
        self.assertEqual(r.rc, 0, r)
        fds = [int(l.split()[0]) for l in r.out.splitlines()]
        self.assertEqual(fds, [0, 1, 2], "fd 3 must not leak without --preserve-fds")

    def test_no_pivot(self):
        b = self.bundle(args=["/probe", "cat", "/etc/hostname"])
        r = self.run_container(b, extra=["--no-pivot"])
        self.assertEqual((r.rc, r.out), (0, "template\n"), r)


class GlobalFlags(ContainerTest):
    def test_root_flag_places_state(self):
        root = os.path.join(self.tmp, "altroot")
        b = self.bundle(args=["/probe", "id"])
        cid = self.new_id()
        r = self.runc("create", "--bundle", b.path, cid, root=root)
        self.assertEqual(r.rc, 0, r)
        try:
            self.assertTrue(os.path.isdir(os.path.join(root, cid)))
            self.assertNotIn(cid, self.runc_ok("list", "-q").out)
            self.assertIn(cid, self.runc_ok("list", "-q", root=root).out)
            self.assertNotEqual(self.runc("state", cid).rc, 0)
        finally:
            self.runc("delete", "--force", cid, root=root)
        self.assertFalse(os.path.exists(os.path.join(root, cid)))

    def test_single_dash_flags(self):
        b = self.bundle(args=["/probe", "id"])
        cid = self.new_id()
        r = svtest.run_argv([svtest.RUNC, *svtest.GLOBAL_ARGS, "-root", self.root, "create", "-bundle", b.path,
                             cid])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.state(cid)["bundle"], b.path)
        r = svtest.run_argv([svtest.RUNC, "-root", self.root, "delete", "-force", cid])
        self.assertEqual(r.rc, 0, r)
        self.check_clean()

    def test_log_json_error(self):
        log = os.path.join(self.tmp, "runtime.log")
        r = self.runc("state", "svit-no-such-container",
                      global_args=["--log", log, "--log-format", "json"])
        self.assertNotEqual(r.rc, 0)
        with open(log) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        errors = [l for l in lines if l.get("level") == "error"]
        self.assertTrue(errors, lines)
        self.assertIn("does not exist", errors[-1]["msg"])
        self.assertRegex(errors[-1]["time"], RFC3339)

    def test_log_text_default(self):
        log = os.path.join(self.tmp, "runtime.log")
        r = self.runc("state", "svit-no-such-container", global_args=["--log", log])
        self.assertNotEqual(r.rc, 0)
        text = read_text(log)
        self.assertIn("level=error", text)
        self.assertIn("does not exist", text)

    def test_version(self):
        r = svtest.run_argv([svtest.RUNC, "--version"])
        self.assertEqual(r.rc, 0, r)
        self.assertIn("version", r.out)
        self.assertRegex(r.out, r"(?m)^spec: 1\.\d+\.\d+")

    def test_help(self):
        r = svtest.run_argv([svtest.RUNC, "--help"])
        self.assertEqual(r.rc, 0, r)
        for cmd in ("create", "start", "state", "kill", "delete", "run", "list"):
            self.assertRegex(r.out, rf"(?m)^\s+{cmd}\b", f"--help lists {cmd}")


if __name__ == "__main__":
    svtest.main()
