#!/usr/bin/env python3
"""dockerd restarted under live system containers (issue 10): with `live-restore`, a system
container started by `docker run --runtime sysvisor-runc` keeps running while dockerd is down,
and afterwards `docker exec`, `docker stop` and `docker rm` work and leave nothing behind (no
runtime state, no fs registration, no id range, no mount, no cgroup).

Its own private dockerd (own run dir, data root, cgroup parent and socket: the other e2e
modules' dockerd is never restarted), config with "live-restore": true; names start with
`svft-`.
"""

import json
import os
import signal
import sys
import time

RUN_DIR = "/run/svft-e2e"

# e2e.py links a `sysvisor-runc` name to the multi-call binary under the shared e2e run dir;
# this module's dockerd gets its own link instead (another module's dockerd keeps its binary).
_sv = os.environ.get("SV_RUNC", "")
if os.path.basename(_sv) == "sysvisor":
    os.makedirs(os.path.join(RUN_DIR, "bin"), exist_ok=True)
    _link = os.path.join(RUN_DIR, "bin", "sysvisor-runc")
    _tmp = f"{_link}.{os.getpid()}"
    os.symlink(os.path.abspath(_sv), _tmp)
    os.replace(_tmp, _link)
    os.environ["SV_RUNC"] = _link

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e  # noqa: E402

# Everything of this module under its own names (final_checks reads these globals).
e2e.RUN_DIR = RUN_DIR
e2e.DATA_DIR = "/var/lib/svft-e2e"
e2e.CGROUP_PARENT = "svft-e2e"
e2e.PREFIX = "svft-e2e-"


def stop_leftover_containerd():
    """With live-restore, dockerd leaves its containerd running when it stops (that is how the
    containers survive). At the very end it goes too: only the one under our run dir."""
    for line in e2e.processes_with(os.path.join(e2e.RUN_DIR, "docker", "containerd")):
        pid = int(line.split(":", 1)[0])
        if "containerd-shim" in line:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    e2e.wait_for(lambda: not [l for l in e2e.processes_with(e2e.RUN_DIR)
                              if "containerd" in l and "containerd-shim" not in l], 30,
                 "containerd to stop")
    # dockerd makes its data root a private bind of itself and leaves it when it stops: this
    # module's own data root goes back to a plain directory.
    root = os.path.join(e2e.DATA_DIR, "docker")
    if e2e.our_mounts([root]):
        e2e.run(["umount", "-l", root], timeout=30)


def state_roots(env):
    """sysvisor-runc's --root dirs under dockerd's exec root (runtime-<name>/moby; this
    dockerd names it after runc whatever the runtime)."""
    d = env.run_dir
    return [os.path.join(d, e, "moby") for e in os.listdir(d) if e.startswith("runtime-")]


def runtime_state(env):
    return [i for root in state_roots(env) for i in e2e.runtime_state(root)]


class LiveRestoreTest(e2e.DockerTest):
    @classmethod
    def setUpClass(cls):
        if e2e.DockerTest.env is None:
            env = e2e.DockerEnv(base_dir=e2e.RUN_DIR, data_dir=e2e.DATA_DIR,
                                cgroup_parent=e2e.CGROUP_PARENT)
            os.makedirs(env.base_dir, exist_ok=True)
            os.makedirs(e2e.DATA_DIR, exist_ok=True)
            cfg = {"bridge": "none", "iptables": False, "ip6tables": False,
                   "cgroup-parent": env.cgroup_parent, "live-restore": True}
            if os.path.exists(env.config):
                with open(env.config) as f:
                    cfg = dict(json.load(f), **{"live-restore": True})
            with open(env.config, "w") as f:
                json.dump(cfg, f)
            env.start()
            # An earlier run that died half-way: its containers go first.
            for c in env.containers():
                env.docker("rm", "-f", c, timeout=60)
            # Runs last: final_checks looks for state where this dockerd keeps it.
            e2e._cleanup_stack.insert(0, lambda: e2e._runtime_roots.extend(state_roots(env)))
            e2e._cleanup_stack.append(stop_leftover_containerd)
            e2e._cleanup_stack.append(env.stop)
            e2e.DockerTest.env = env
        super().setUpClass()

    def tearDown(self):
        # A check that failed while dockerd was down must not leave the rest without it.
        if not self.env.daemon.running_pid():
            self.env.daemon.start()
        super().tearDown()

    def restart_dockerd(self):
        env = self.env
        env.daemon.stop()
        self.assertFalse(env.daemon.running_pid(), "dockerd still running")
        return env

    def test_dockerd_restart_keeps_a_system_container(self):
        name = self.docker_run_d("--", "sleep", "600")
        cid = self.inspect(name, "{{.Id}}")
        pid = int(self.inspect(name, "{{.State.Pid}}"))
        with open(f"/proc/{pid}/uid_map") as f:
            base = int(f.read().split()[1])
        self.assertEqual(e2e.MGR.entry(cid)["uidBase"], base)
        self.assertIn(cid, [c["id"] for c in e2e.FS.status()["containers"]])

        env = self.restart_dockerd()
        # dockerd is down: the container runs on, the runtime still knows it.
        self.assertTrue(e2e._pid_alive(pid), "the container died with dockerd")
        roots = [r for r in state_roots(env) if os.path.isdir(os.path.join(r, cid))]
        self.assertEqual(len(roots), 1, f"no runtime state for {cid}: {state_roots(env)}")
        r = e2e.run([e2e.RUNC, "--root", roots[0], "state", cid], timeout=30)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.out)["status"], "running")
        time.sleep(1)
        env.daemon.start()

        self.assertEqual(self.inspect(name, "{{.State.Running}}"), "true")
        self.assertEqual(int(self.inspect(name, "{{.State.Pid}}")), pid)
        self.assertEqual(self.docker_ok("exec", name, "echo", "alive").out.strip(), "alive")
        up = float(self.docker_ok("exec", name, "cat", "/proc/uptime").out.split()[0])
        self.assertLess(up, 120, "the container's own uptime (sysvisor-fs) after the restart")
        self.assertEqual(self.docker_ok("exec", name, "cat", "/proc/self/uid_map").out.split()[1],
                         str(base))
        # New containers work next to it.
        other = self.docker_run("--", "cat", "/proc/self/uid_map")
        self.assertEqual(other.rc, 0, other)
        self.assertNotEqual(other.out.split()[1], str(base))

        self.docker_ok("stop", "-t", "2", name)
        self.assertEqual(self.inspect(name, "{{.State.Running}}"), "false")
        self.docker_ok("rm", name)
        e2e.wait_for(lambda: not runtime_state(env), 10, "runtime state to go")
        e2e.wait_for(lambda: e2e.MGR.entry(cid) is None, 10, "mgr to free the range")
        self.assertNotIn(cid, [c["id"] for c in e2e.FS.status()["containers"]])
        self.assertEqual(e2e.our_mounts([cid]), [])
        self.assertEqual([c for c in e2e.our_cgroups() if cid in c], [])
        self.assertFalse(e2e._pid_alive(pid))

    def test_engine_view_across_a_dockerd_restart(self):
        # The id view on ".../merged" is not overlayfs, so a restarted dockerd does not count
        # it as its mount: for each command that needs the rootfs it mounts its own overlay on
        # top and unmounts it after. Docker's commands keep working on the live container, the
        # view is still there afterwards, and stop + rm leave nothing.
        name = self.docker_run_d("--", "sleep", "600")
        cid = self.inspect(name, "{{.Id}}")
        merged = self.inspect(name, "{{.GraphDriver.Data.MergedDir}}")
        self.docker_ok("exec", name, "sh", "-c", "echo before > /before")
        self.assertEqual(self.docker_ok("diff", name).out.splitlines(), ["A /before"])
        env = self.restart_dockerd()
        env.daemon.start()
        self.docker_ok("exec", name, "sh", "-c", "echo after > /after")
        diff = self.docker_ok("diff", name).out.splitlines()
        print(f"\n  diff after the restart: {diff}", flush=True)
        self.assertIn("A /before", diff)
        self.assertIn("A /after", diff)
        src = os.path.join(self.tmp, "in.txt")
        with open(src, "w") as f:
            f.write("copied in\n")
        self.docker_ok("cp", src, f"{name}:/in.txt")
        # Written through dockerd's own overlay on top: the content is there, the owner is host
        # root's (nobody inside) until the next start; printed, not asserted (a known limit).
        r = self.docker_ok("exec", name, "sh", "-c", "cat /in.txt; stat -c %u /in.txt")
        print(f"  cp in after the restart, seen inside: {r.out!r}", flush=True)
        self.assertTrue(r.out.startswith("copied in\n"), r.out)
        with open("/proc/self/mountinfo") as f:
            mounts = [l.split(" - ")[1].split()[:2] for l in f if l.split()[4] == merged]
        self.assertEqual(mounts, [["fuse", "sysvisor-idview"]])
        self.docker_ok("stop", "-t", "2", name)
        self.docker_ok("rm", name)
        e2e.wait_for(lambda: not runtime_state(env), 10, "runtime state to go")
        self.assertEqual(e2e.our_mounts([cid]), [])
        self.assertEqual([l for l in e2e.processes_with(cid)], [])

    def test_dockerd_restart_then_container_exits_on_its_own(self):
        # The container ends while dockerd is down: after the restart, Docker sees it exited
        # and removes it cleanly.
        name = self.docker_run_d("--", "sh", "-c", "sleep 4")
        cid = self.inspect(name, "{{.Id}}")
        pid = int(self.inspect(name, "{{.State.Pid}}"))
        self.restart_dockerd()
        e2e.wait_for(lambda: not e2e._pid_alive(pid), 20, "the container to exit")
        self.env.daemon.start()
        e2e.wait_for(lambda: self.inspect(name, "{{.State.Running}}") == "false", 30,
                     "docker to see the exit")
        self.docker_ok("rm", name)
        e2e.wait_for(lambda: not runtime_state(self.env), 10, "runtime state to go")
        e2e.wait_for(lambda: e2e.MGR.entry(cid) is None, 10, "mgr to free the range")
        self.assertNotIn(cid, [c["id"] for c in e2e.FS.status()["containers"]])


if __name__ == "__main__":
    e2e.main()
