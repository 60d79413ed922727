#!/usr/bin/env python3
"""Docker (dockerd -> containerd -> runc shim -> sysvisor-runc): everyday commands and flags."""

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time

import e2e
from e2e import DockerTest, wait_for


def cgroup_file(v1, v2):
    """Inside a container: the v1 path if that hierarchy is mounted there, else the v2 one."""
    return f'$(test -e /sys/fs/cgroup/{v1} && echo /sys/fs/cgroup/{v1} || echo /sys/fs/cgroup/{v2})'


class RunTest(DockerTest):
    def test_run_rm_exit_codes(self):
        r = self.docker_run("sh", "-c", "echo hello; exit 3")
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(r.out, "hello\n")
        self.assertEqual(self.docker_run("true").rc, 0)
        # Killed by a signal while `docker run` is attached: 128+9.
        name = self.name("killed")
        p = subprocess.Popen([e2e.DOCKER, "run", "--rm", "--name", name, "--runtime", e2e.RUNTIME,
                              "--network", "none", self.image, "sleep", "300"],
                             env=self.env.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: self.docker("inspect", "-f", "{{.State.Running}}", name).out.strip()
                     == "true", 30, "the container to run")
            self.docker_ok("kill", name)
            self.assertEqual(p.wait(timeout=30), 137)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stderr.close()

    def test_init_and_signal_exit_code(self):
        # With --init, docker-init is PID 1 and the shell a child it reaps and reports.
        r = self.docker_run("--init", "--", "sh", "-c", "cat /proc/1/comm; kill -USR1 $$")
        self.assertEqual(r.out.splitlines()[0], "docker-init", r)
        self.assertEqual(r.rc, 128 + 10, r)

    def test_exec(self):
        name = self.docker_run_d("--", "sleep", "300")
        r = self.docker_ok("exec", name, "sh", "-c", "echo exec-ok; for ns in pid mnt; do "
                           "readlink /proc/1/ns/$ns; readlink /proc/self/ns/$ns; done")
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "exec-ok")
        self.assertEqual(lines[1], lines[2], "exec must join the container's pid namespace")
        self.assertEqual(lines[3], lines[4], "exec must join the container's mount namespace")
        self.assertEqual(len(lines), 5, r)
        self.assertEqual(self.docker("exec", name, "sh", "-c", "exit 7").rc, 7)
        r = self.docker_ok("exec", "-u", "1000:1000", "-w", "/tmp", "-e", "FOO=bar", name, "sh",
                           "-c", "id -u; id -g; pwd; echo $FOO")
        self.assertEqual(r.out.split(), ["1000", "1000", "/tmp", "bar"])
        # Same cgroup as the container's init.
        r = self.docker_ok("exec", name, "sh", "-c", "cat /proc/1/cgroup; echo ==; "
                           "cat /proc/self/cgroup")
        init, own = r.out.split("==\n")
        self.assertEqual(init, own)
        r = self.docker("exec", name, "/nonexistent")
        self.assertNotEqual(r.rc, 0)
        self.assertIn("/nonexistent", r.out + r.err)

    def test_exec_it_tty_and_window_size(self):
        name = self.docker_run_d("--", "sleep", "300")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        # The client sets the size once the exec runs (0x0 before, like runc): wait for it.
        size = "/probe tty | grep -E '^(rows|cols)=' | tr '\\n' ' '; echo"
        script = (f"tty; while /probe tty | grep -q '^rows=0$'; do sleep 0.1; done; {size}; "
                  f"read x; {size}; echo done")
        p = subprocess.Popen([e2e.DOCKER, "exec", "-it", name, "sh", "-c", script],
                             stdin=slave, stdout=slave, stderr=slave, env=self.env.env,
                             start_new_session=True,
                             preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        out = b""
        try:
            out = read_until(master, rb"cols=\d+ *\r?\n", 30)
            text = out.decode(errors="replace")
            self.assertRegex(text, r"/dev/pts/\d+", text)
            self.assertIn("rows=30 cols=100", text)
            # The client sees SIGWINCH and resizes the exec's pty through the shim.
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 132, 0, 0))
            os.kill(p.pid, 28)  # SIGWINCH, as the terminal would send to its foreground
            time.sleep(1)
            os.write(master, b"\n")
            out += read_until(master, rb"done", 30)
            self.assertIn("rows=45 cols=132", out.decode(errors="replace"))
            self.assertEqual(p.wait(timeout=30), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)

    def test_run_it_through_tmux(self):
        name = self.name("tmux")
        session = name
        cmd = (f"DOCKER_HOST={self.env.host} {e2e.DOCKER} run -it --rm --name {name} "
               f"--runtime {e2e.RUNTIME} --network none {self.image} sh")
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                        cmd], check=True)
        try:
            wait_for(lambda: "#" in pane(session), 30, "the shell prompt")
            subprocess.run(["tmux", "send-keys", "-t", session, "tty; stty size; echo $((6*7))",
                            "Enter"], check=True)
            text = wait_for(lambda: (lambda t: t if "42" in t else "")(pane(session)), 30,
                            "the command output")
            self.assertRegex(text, r"/dev/pts/\d+")
            self.assertIn("40 120", text)
            subprocess.run(["tmux", "send-keys", "-t", session, "exit 5", "Enter"], check=True)
            wait_for(lambda: subprocess.run(["tmux", "has-session", "-t", session],
                                            stderr=subprocess.DEVNULL).returncode != 0,
                     30, "the session to end")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)

    def test_logs_top_stats(self):
        name = self.docker_run_d("--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; "
                                 "dd if=/dev/zero of=/dev/shm/f bs=1M count=16 2>/dev/null; "
                                 "echo filled; exec sleep 300")
        wait_for(lambda: "filled" in self.logs(name), 30, "the container's output")
        r = self.docker_ok("logs", name)
        self.assertIn("to-stdout", r.out)
        self.assertIn("to-stderr", r.err)
        top = self.docker_ok("top", name).out
        self.assertIn("sleep 300", top)
        r = self.docker_ok("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", name)
        usage, pids = r.out.strip().split("|")
        self.assertGreater(parse_size(usage.split("/")[0]), 8 << 20, r)
        self.assertEqual(pids.strip(), "1")


class LifecycleTest(DockerTest):
    def test_stop_sigterm_honoured(self):
        name = self.docker_run_d("--", "sh", "-c", "trap 'echo got-term; exit 0' TERM; "
                                 "echo ready; while :; do sleep 0.1; done")
        wait_for(lambda: "ready" in self.logs(name), 30, "the trap to be set")
        self.docker_ok("stop", "-t", "60", name, timeout=90)
        self.assertEqual(self.inspect(name, "{{.State.ExitCode}}"), "0")
        self.assertIn("got-term", self.logs(name))

    def test_stop_sigkill_after_timeout(self):
        name = self.docker_run_d("--", "sh", "-c", "trap '' TERM; echo ready; "
                                 "while :; do sleep 0.1; done")
        wait_for(lambda: "ready" in self.logs(name), 30, "the trap to be set")
        self.docker_ok("stop", "-t", "1", name, timeout=60)
        self.assertEqual(self.inspect(name, "{{.State.ExitCode}}"), "137")

    def test_kill_signal(self):
        name = self.docker_run_d("--", "sh", "-c", "trap 'echo got-usr1' USR1; echo ready; "
                                 "while :; do sleep 0.1; done")
        wait_for(lambda: "ready" in self.logs(name), 30, "the trap to be set")
        self.docker_ok("kill", "-s", "USR1", name)
        wait_for(lambda: "got-usr1" in self.logs(name), 30, "the signal to arrive")
        self.assertEqual(self.inspect(name, "{{.State.Running}}"), "true")
        self.docker_ok("kill", "-s", "KILL", name)
        wait_for(lambda: self.inspect(name, "{{.State.Running}}") == "false", 30, "the exit")
        self.assertEqual(self.inspect(name, "{{.State.ExitCode}}"), "137")

    def test_restart(self):
        name = self.docker_run_d("--", "sleep", "300")
        pid1 = self.inspect(name, "{{.State.Pid}}")
        self.docker_ok("restart", "-t", "1", name, timeout=90)
        self.assertEqual(self.inspect(name, "{{.State.Running}}"), "true")
        self.assertNotEqual(self.inspect(name, "{{.State.Pid}}"), pid1)
        self.assertEqual(self.docker_ok("exec", name, "echo", "again").out, "again\n")

    def test_restart_on_failure(self):
        name = self.docker_run_d("--restart", "on-failure:2", "--", "sh", "-c",
                                 "echo run; exit 1")
        wait_for(lambda: self.inspect(name, "{{.RestartCount}} {{.State.Status}}")
                 == "2 exited", 60, "two restarts")
        self.assertEqual(self.logs(name).count("run"), 3)
        self.assertEqual(self.inspect(name, "{{.State.ExitCode}}"), "1")

    def test_pause_unpause(self):
        name = self.docker_run_d("--", "sh", "-c", "i=0; while :; do i=$((i+1)); "
                                 "echo $i > /tmp/count; sleep 0.05; done")

        def count():
            return int(self.docker_ok("exec", name, "cat", "/tmp/count").out or 0)

        wait_for(lambda: count() > 2, 30, "the counter")
        self.docker_ok("pause", name)
        self.assertEqual(self.inspect(name, "{{.State.Status}}"), "paused")
        # exec is refused while paused; read the counter from the host side instead.
        upper = self.inspect(name, "{{.GraphDriver.Data.UpperDir}}")
        path = os.path.join(upper, "tmp", "count")
        a = read_int(path)
        time.sleep(1)
        self.assertEqual(read_int(path), a, "a paused container's counter must not move")
        self.docker_ok("unpause", name)
        wait_for(lambda: count() > a + 2, 30, "the counter to move again")

    def test_rm_force_running(self):
        name = self.docker_run_d("--", "sleep", "300")
        self.docker_ok("rm", "-f", name)
        r = self.docker("inspect", name)
        self.assertNotEqual(r.rc, 0)

    def test_parallel_runs(self):
        procs = []
        for i in range(20):
            n = self.name(f"par{i}")
            procs.append(subprocess.Popen(
                [e2e.DOCKER, "run", "--rm", "--name", n, "--runtime", e2e.RUNTIME,
                 "--network", "none", self.image, "sh", "-c", f"echo par-{i}"],
                env=self.env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for i, p in enumerate(procs):
            out, err = p.communicate(timeout=180)
            self.assertEqual((p.returncode, out.decode()), (0, f"par-{i}\n"), err.decode())


class ResourcesTest(DockerTest):
    def test_memory_limit_oom(self):
        r = self.docker_run("--memory", "32m", "--memory-swap", "32m", "--",
                            "sh", "-c", "cat " + cgroup_file("memory/memory.limit_in_bytes",
                                                             "memory.max"))
        self.assertEqual(r.out.strip(), str(32 << 20), r)
        name = self.name("oom")
        r = self.docker("run", "--name", name, "--runtime", e2e.RUNTIME, "--network", "none",
                        "--memory", "32m", "--memory-swap", "32m", self.image,
                        "/probe", "alloc", "200")
        self.assertEqual(r.rc, 137, r)
        self.assertEqual(self.inspect(name, "{{.State.OOMKilled}}"), "true")

    def test_update_memory(self):
        name = self.docker_run_d("--memory", "64m", "--", "sleep", "300")
        limit = "cat " + cgroup_file("memory/memory.limit_in_bytes", "memory.max")
        self.assertEqual(self.docker_ok("exec", name, "sh", "-c", limit).out.strip(),
                         str(64 << 20))
        self.docker_ok("update", "--memory", "128m", "--memory-swap", "256m", name)
        self.assertEqual(self.docker_ok("exec", name, "sh", "-c", limit).out.strip(),
                         str(128 << 20))

    def test_pids_limit_stops_fork_bomb(self):
        name = self.docker_run_d("--pids-limit", "32", "--", "sleep", "300")
        r = self.docker("exec", name, "sh", "-c", "for i in $(seq 200); do sleep 300 & done; "
                        "echo all-forked")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("can't fork", r.err)
        self.assertNotIn("all-forked", r.out)
        stats = self.docker_ok("stats", "--no-stream", "--format", "{{.PIDs}}", name).out
        self.assertGreater(int(stats.strip()), 16, "the loop should have forked up to the limit")
        self.assertLessEqual(int(stats.strip()), 32)

    def test_cpus(self):
        r = self.docker_run("--cpus", "0.5", "--", "sh", "-c",
                            "if test -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us; then "
                            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
                            "/sys/fs/cgroup/cpu/cpu.cfs_period_us; "
                            "else cat /sys/fs/cgroup/cpu.max; fi")
        self.assertEqual(r.out.split(), ["50000", "100000"], r)


class SecurityTest(DockerTest):
    def test_read_only(self):
        r = self.docker_run("--read-only", "--", "sh", "-c", "touch /x 2>&1; echo rc=$?")
        self.assertIn("Read-only file system", r.out)
        self.assertIn("rc=1", r.out)
        r = self.docker_run("--read-only", "--tmpfs", "/tmp", "--", "sh", "-c",
                            "touch /tmp/x && echo tmp-ok")
        self.assertEqual(r.out, "tmp-ok\n", r)

    def test_user(self):
        r = self.docker_run("--user", "1000:1000", "--", "sh", "-c", "id -u; id -g; "
                            "touch /tmp/f; stat -c %u:%g /tmp/f")
        self.assertEqual(r.out.split(), ["1000", "1000", "1000:1000"], r)

    def test_cap_drop_all_and_add(self):
        # A system container's root has every capability (of its user namespace) whatever the
        # spec says, as under Sysbox; SYSVISOR_HONOR_CAPS=true makes --cap-drop/--cap-add count.
        honor = ("-e", "SYSVISOR_HONOR_CAPS=true")
        r = self.docker_run(*honor, "--cap-drop", "ALL", "--", "grep", "^Cap", "/proc/self/status")
        caps = dict(line.split(":\t") for line in r.out.splitlines())
        self.assertEqual({caps[k] for k in ("CapPrm", "CapEff", "CapBnd")},
                         {"0000000000000000"}, r)
        r = self.docker_run(*honor, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--",
                            "grep", "^CapEff", "/proc/self/status")
        self.assertEqual(r.out.split()[1], "0000000000001000", r)
        r = self.docker_run(*honor, "--cap-drop", "ALL", "--", "sh", "-c",
                            "chown 1000 /tmp 2>&1; echo rc=$?")
        self.assertIn("rc=1", r.out)

    def test_seccomp_profile(self):
        profile = os.path.join(self.tmp, "profile.json")
        with open(profile, "w") as f:
            f.write('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", '
                    '"mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}')
        r = self.docker_run("--security-opt", f"seccomp={profile}", "--",
                            "/probe", "mkdir", "/tmp/blocked")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("errno=1", r.out + r.err)
        # Docker's default profile is on by default.
        r = self.docker_run("grep", "^Seccomp:", "/proc/self/status")
        self.assertEqual(r.out.split()[1], "2", r)

    def test_device_fuse(self):
        r = self.docker_run("--device", "/dev/fuse", "--", "sh", "-c",
                            "stat -c '%t:%T' /dev/fuse; exec 3<>/dev/fuse && echo opened")
        self.assertEqual(r.out.split(), ["a:e5", "opened"], r)
        r = self.docker_run("sh", "-c", "test -e /dev/fuse && echo present || echo absent")
        self.assertEqual(r.out.strip(), "absent")


class MountsEnvTest(DockerTest):
    def test_bind_mounts(self):
        host = os.path.join(self.tmp, "vol")
        os.mkdir(host)
        with open(os.path.join(host, "f"), "w") as f:
            f.write("from-host\n")
        r = self.docker_run("-v", f"{host}:/v:ro", "--", "sh", "-c",
                            "cat /v/f; echo x > /v/g 2>/dev/null; echo rc=$?")
        self.assertEqual(r.out.split(), ["from-host", "rc=1"], r)
        self.assertFalse(os.path.exists(os.path.join(host, "g")))
        r = self.docker_run("-v", f"{host}:/v", "--", "sh", "-c", "echo written > /v/g")
        self.assertEqual(r.rc, 0, r)
        with open(os.path.join(host, "g")) as f:
            self.assertEqual(f.read(), "written\n")

    def test_tmpfs(self):
        r = self.docker_run("--tmpfs", "/scratch:size=1m", "--", "sh", "-c",
                            "grep ' /scratch ' /proc/mounts; echo data > /scratch/f && cat "
                            "/scratch/f")
        self.assertRegex(r.out, r"tmpfs /scratch tmpfs \S*size=1024k")
        self.assertIn("data", r.out)

    def test_hostname_env_workdir(self):
        r = self.docker_run("--hostname", "svhost", "-e", "FOO=bar", "-w", "/home/user", "--",
                            "sh", "-c", "hostname; echo $FOO; pwd")
        self.assertEqual(r.out.split(), ["svhost", "bar", "/home/user"], r)


class DebianTest(DockerTest):
    def test_debian_image(self):
        image = self.env.ensure_debian_image()
        r = self.docker_run("--user", "1000:1000", "--", "bash", "-c",
                            ". /etc/os-release; echo $VERSION_CODENAME; id -u; "
                            "ls /usr/bin/apt-get", image=image)
        self.assertEqual(r.out.split(), ["bookworm", "1000", "/usr/bin/apt-get"], r)


# --------------------------------------------------------------------------------------------


def pane(session):
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True).stdout


def read_until(fd, pattern, timeout):
    buf = b""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {pattern!r}; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def read_int(path):
    with open(path) as f:
        return int(f.read().strip() or 0)


def parse_size(text):
    m = re.match(r"\s*([\d.]+)\s*([KMGT]?i?B)", text)
    if not m:
        raise AssertionError(f"not a size: {text!r}")
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "kB": 1000, "MB": 10 ** 6,
             "GB": 10 ** 9}
    return float(m.group(1)) * units.get(m.group(2), 1)


if __name__ == "__main__":
    if not shutil.which("tmux"):
        raise SystemExit("tmux is missing: scripts/deps.sh installs it")
    e2e.main()
