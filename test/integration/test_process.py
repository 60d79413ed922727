#!/usr/bin/env python3
"""The container process: pid file, stdio, exit status, inherited fds and signal state, PATH."""

import os
import shutil
import signal

import svtest
from svtest import ContainerTest, parse_kv, read_text, sysvisor_only


def hostile_signal_state():
    """preexec_fn: start the runtime with SIGINT/SIGQUIT/SIGPIPE ignored and a blocked mask,
    as a careless parent (nohup, a shell's background job, a daemon) would."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
                                              signal.SIGTERM})


class PidFile(ContainerTest):
    def test_pid_file_is_container_init(self):
        # Without a pid namespace the probe sees its host pid, which must be the pid file's.
        b = self.bundle(args=["/probe", "pid"])
        b.drop_namespace("pid")
        pidfile = os.path.join(self.tmp, "pid")
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, extra=["--pid-file", pidfile], stdout=out)
        pid = read_text(pidfile)
        self.assertRegex(pid, r"^[0-9]+$")
        self.start(cid)
        self.wait_status(cid, "stopped")
        self.assertEqual(parse_kv(read_text(out))["pid"], pid)

    def test_pid_namespace_init_is_pid_1(self):
        kv = self.probe("pid").kv
        self.assertEqual((kv["pid"], kv["ppid"]), ("1", "0"))

    def test_run_pid_file(self):
        b = self.bundle(args=["/probe", "sleep", "60"])
        pidfile = os.path.join(self.tmp, "run.pid")
        cid = self.run_detached(b, extra=["--pid-file", pidfile])
        self.assertEqual(int(read_text(pidfile)), self.state(cid)["pid"])


class Stdio(ContainerTest):
    def test_create_stdout_file(self):
        b = self.bundle(args=["sh", "-c", "/probe write-stdout to-out; /probe write-stderr to-err"])
        out, err = os.path.join(self.tmp, "out"), os.path.join(self.tmp, "err")
        cid, _ = self.create(b, stdout=out, stderr=err)
        self.start(cid)
        self.wait_status(cid, "stopped")
        self.assertEqual(read_text(out), "to-out")
        self.assertEqual(read_text(err), "to-err")

    def test_create_stdin_file(self):
        src = os.path.join(self.tmp, "in")
        with open(src, "w") as f:
            f.write("stdin-through-create")
        b = self.bundle(args=["/probe", "echo-stdin"])
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, stdin=src, stdout=out)
        self.start(cid)
        self.wait_status(cid, "stopped")
        self.assertEqual(read_text(out), "stdin-through-create")

    def test_run_stdin_to_stdout(self):
        r = self.run_container(self.bundle(args=["/probe", "echo-stdin"]), input="ping\n" * 1000)
        self.assertEqual((r.rc, r.out), (0, "ping\n" * 1000))

    def test_stdio_are_the_callers(self):
        # fds 0-2 of the container are the very files the runtime was given.
        out = os.path.join(self.tmp, "out")
        b = self.bundle(args=["/probe", "fds"])
        cid, _ = self.create(b, stdout=out, stderr=os.path.join(self.tmp, "err"))
        self.start(cid)
        self.wait_status(cid, "stopped")
        fds = dict(l.split(" ", 1) for l in read_text(out).splitlines())
        self.assertEqual(fds["1"], out)
        self.assertEqual(fds["2"], os.path.join(self.tmp, "err"))
        self.assertEqual(fds["0"], "/dev/null")


class ExitCodes(ContainerTest):
    def test_exit_codes(self):
        for code in (0, 1, 3, 255):
            r = self.run_container(self.bundle(args=["/probe", "exit", str(code)],
                                               name=f"b{code}"))
            self.assertEqual(r.rc, code)

    def test_signal_exit_codes(self):
        for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1, signal.SIGABRT):
            b = self.bundle(args=["/probe", "kill-self", str(int(sig))], name=f"b{int(sig)}")
            b.drop_namespace("pid")  # pid 1 cannot be killed by its own default signals
            self.assertEqual(self.run_container(b).rc, 128 + sig, sig.name)

    def test_start_exit_code_in_state(self):
        # After a non-zero exit, the container is stopped (runc keeps no exit code in state).
        b = self.bundle(args=["/probe", "exit", "5"])
        cid = self.run_detached(b)
        st = self.wait_status(cid, "stopped")
        self.assertEqual(st["pid"], 0)


class Fds(ContainerTest):
    def fd_list(self, text):
        return [int(l.split()[0]) for l in text.splitlines() if l.strip()]

    def test_only_stdio_with_run(self):
        r = self.probe("fds")
        self.assertEqual(self.fd_list(r.out), [0, 1, 2], r.out)

    def test_only_stdio_with_create_start(self):
        b = self.bundle(args=["/probe", "fds"])
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, stdout=out)
        self.start(cid)
        self.wait_status(cid, "stopped")
        self.assertEqual(self.fd_list(read_text(out)), [0, 1, 2], read_text(out))

    def test_preserved_fds_only(self):
        data = os.path.join(self.tmp, "data")
        open(data, "w").close()
        b = self.bundle(args=["/probe", "fds"])
        cid = self.new_id()
        # fds 3 and 4 are passed and preserved; 5 is open in the runtime but not preserved.
        argv = ["sh", "-c", 'exec 3<"$0" 4<"$0" 5<"$0"; exec "$@"', data, svtest.RUNC,
                *svtest.GLOBAL_ARGS, "--root", self.root, "run", "--preserve-fds", "2",
                "--bundle", b.path, cid]
        r = svtest.run_argv(argv)
        self.assertEqual(r.rc, 0, r)
        lines = dict(l.split(" ", 1) for l in r.out.splitlines())
        self.assertEqual(sorted(int(k) for k in lines), [0, 1, 2, 3, 4])
        self.assertEqual(lines["3"], data)
        self.assertEqual(lines["4"], data)


class Signals(ContainerTest):
    def _sigs_run(self):
        r = self.run_container(self.bundle(args=["/probe", "sigs"]),
                               preexec_fn=hostile_signal_state)
        self.assertEqual(r.rc, 0, r)
        return {k: int(v, 16) for k, v in r.kv.items()}

    def _sigs_create(self):
        b = self.bundle(args=["/probe", "sigs"])
        out = os.path.join(self.tmp, "out")
        cid, _ = self.create(b, stdout=out, preexec_fn=hostile_signal_state)
        self.start(cid)
        self.wait_status(cid, "stopped")
        return {k: int(v, 16) for k, v in parse_kv(read_text(out)).items()}

    def test_no_ignored_signals_run(self):
        self.assertEqual(self._sigs_run()["SigIgn"], 0, "ignored signals leaked")

    def test_no_ignored_signals_create_start(self):
        self.assertEqual(self._sigs_create()["SigIgn"], 0, "ignored signals leaked")

    @sysvisor_only("runc 1.1.5 leaks the caller's blocked signal mask into the container")
    def test_empty_signal_mask_run(self):
        self.assertEqual(self._sigs_run()["SigBlk"], 0, "blocked mask leaked")

    @sysvisor_only("runc 1.1.5 leaks the caller's blocked signal mask into the container")
    def test_empty_signal_mask_create_start(self):
        self.assertEqual(self._sigs_create()["SigBlk"], 0, "blocked mask leaked")

    def test_inherited_ignore_does_not_survive(self):
        # SIGINT is ignored in the runtime's parent; the container keeps whatever disposition
        # it inherited (keep-disposition), which must be the default: death by SIGINT.
        b = self.bundle(args=["/probe", "kill-self", "INT", "keep-disposition"])
        b.drop_namespace("pid")
        r = self.run_container(b, preexec_fn=hostile_signal_state)
        self.assertEqual(r.rc, 128 + signal.SIGINT, r)


class ArgsLookup(ContainerTest):
    def test_args0_found_in_spec_path(self):
        def mutate(s):
            s["process"]["env"] = ["PATH=/nowhere:/opt/tools"]
        b = self.bundle(args=["sv-tool", "write-stdout", "found"], mutate=mutate)
        os.makedirs(os.path.join(b.rootfs, "opt", "tools"))
        shutil.copy2(os.path.join(b.rootfs, "probe"), os.path.join(b.rootfs, "opt", "tools",
                                                                   "sv-tool"))
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out), (0, "found"), r)

    def test_args0_path_is_the_containers_not_the_hosts(self):
        # `busybox` is in the host PATH (/bin) but the spec's PATH lacks /bin.
        def mutate(s):
            s["process"]["env"] = ["PATH=/opt/tools"]
        b = self.bundle(args=["busybox", "true"], mutate=mutate)
        r = self.run_container(b)
        self.assertNotEqual(r.rc, 0, r)
        self.check_clean()

    def test_args0_relative_path_with_slash(self):
        def mutate(s):
            s["process"]["cwd"] = "/bin"
        r = self.run_container(self.bundle(args=["./busybox", "echo", "rel"], mutate=mutate))
        self.assertEqual((r.rc, r.out), (0, "rel\n"), r)

    def test_argv_passed_verbatim(self):
        b = self.bundle(args=["/bin/sh", "-c", 'printf "%s|" "$0" "$@"', "zero", "a b", "",
                              "c*"])
        r = self.run_container(b)
        self.assertEqual((r.rc, r.out), (0, "zero|a b||c*|"), r)


class Scheduling(ContainerTest):
    """process.ioPriority and process.scheduler reach the process; LSM labels are ignored on
    a host without the LSM (this one), with a debug line."""

    @svtest.sysvisor_only("runc 1.1.5 predates process.ioPriority and process.scheduler")
    def test_io_priority_and_scheduler(self):
        def mutate(s):
            s["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
            s["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
        kv = self.probe("sched", mutate=mutate).kv
        self.assertEqual(kv["ioprio"], str(2 << 13 | 6))
        self.assertEqual(kv["policy"], "3")  # SCHED_BATCH
        self.assertEqual(kv["nice"], "7")

    @svtest.sysvisor_only("runc 1.1.5 predates process.ioPriority and process.scheduler")
    def test_idle_policy_and_idle_io_class(self):
        def mutate(s):
            s["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
            s["process"]["scheduler"] = {"policy": "SCHED_IDLE"}
        kv = self.probe("sched", mutate=mutate).kv
        self.assertEqual(kv["ioprio"], str(3 << 13))
        self.assertEqual(kv["policy"], "5")

    @svtest.sysvisor_only("runc 1.1.5 predates process.ioPriority and process.scheduler")
    def test_bad_scheduler_is_refused_and_leaves_nothing(self):
        def mutate(s):
            s["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 0}
        r = self.probe("sched", mutate=mutate, expect_rc=None)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("process.scheduler.priority", r.err)
        self.check_clean()

    @svtest.sysvisor_only("runc refuses labels when the LSM is missing")
    def test_lsm_labels_ignored_without_the_lsm(self):
        self.assertFalse(os.path.exists("/sys/fs/selinux/enforce"), "this host has SELinux")
        def mutate(s):
            s["process"]["apparmorProfile"] = "docker-default"
            s["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
        b = self.bundle(args=["/probe", "id"], mutate=mutate)
        log = os.path.join(self.tmp, "debug.log")
        r = self.runc("run", "--bundle", b.path, self.new_id("lsm"),
                      global_args=("--debug", "--log", log))
        self.assertEqual(r.rc, 0, r)
        with open(log) as f:
            text = f.read()
        self.assertIn("ignoring apparmorProfile", text)
        self.assertIn("ignoring selinuxLabel", text)


if __name__ == "__main__":
    svtest.main()
