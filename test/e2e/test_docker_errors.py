#!/usr/bin/env python3
"""Bad input through Docker: the user sees sysvisor-runc's own message (the runc shim forwards
the last error line of the runtime's JSON log), and nothing is left behind."""

import json
import os

import e2e
from e2e import DockerTest, wait_for


class ErrorsTest(DockerTest):
    def test_missing_entrypoint(self):
        for cmd in ("/nonexistent", "no-such-command"):
            r = self.docker_run(cmd)
            self.assertEqual(r.rc, 127, r)
            # Not Docker's generic wording: the runtime's message, naming the command.
            self.assertIn(f'exec: "{cmd}"', r.err, r)
            self.assertIn("no such file or directory" if cmd.startswith("/")
                          else "not found in $PATH", r.err, r)

    def test_entrypoint_not_executable(self):
        r = self.docker_run("/etc/passwd")
        self.assertEqual(r.rc, 126, r)
        self.assertIn("permission denied", r.err.lower(), r)

    def test_bad_seccomp_profile(self):
        profile = os.path.join(self.tmp, "bad.json")
        with open(profile, "w") as f:
            json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]}, f)
        r = self.docker_run("--security-opt", f"seccomp={profile}", "--", "true")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("SCMP_ACT_BOGUS", r.err, r)
        self.assertIn("linux.seccomp", r.err, r)

    def test_memory_limit_below_usage(self):
        name = self.docker_run_d("--memory", "64m", "--memory-swap", "64m", "--", "sh", "-c",
                                 "dd if=/dev/zero of=/dev/shm/f bs=1M count=24 2>/dev/null; "
                                 "echo filled; exec sleep 300")
        wait_for(lambda: "filled" in self.logs(name), 30, "the container to use memory")
        r = self.docker("update", "--memory", "8m", "--memory-swap", "8m", name)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("memory", r.err)
        self.assertIn("usage", r.err, "the message says why: the container uses more than that")
        # The container is unharmed and keeps its old limit.
        self.assertEqual(self.inspect(name, "{{.State.Running}}"), "true")
        self.assertEqual(self.inspect(name, "{{.HostConfig.Memory}}"), str(64 << 20))

    def test_bad_mount_in_image_path(self):
        # A bind whose container path crosses a symlink to /proc is refused (CVE-2019-16884
        # class) with a message naming the mount.
        r = self.docker_run("-v", f"{self.tmp}:/proc/self/x", "--", "true")
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn("/proc", r.err, r)


if __name__ == "__main__":
    e2e.main()
