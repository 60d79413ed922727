#!/usr/bin/env python3
"""systemd as init (issue 8): a Debian image whose CMD is /sbin/init (systemd, dbus, docker.io,
openssh-server, cron; no STOPSIGNAL) boots under `docker run --runtime sysvisor-runc -d` with no
extra flags to `running` with no failed unit; its services work (Docker inside through the
systemd-managed dockerd, journald, hostnamed); `docker logs` shows the boot and, after
`docker stop`, an orderly halt within a few seconds; `docker restart` boots it again."""

import os
import re
import time

import e2e
from e2e import DockerTest, SystemdMixin, wait_for


class SystemdTest(SystemdMixin, DockerTest):
    def relays_of(self, cid):
        """Console relays (comm sv-console) of the container with id cid."""
        hits = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() != "sv-console":
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if cid.encode() in f.read():
                        hits.append(int(pid))
            except OSError:
                continue
        return hits

    def test_boots_to_running_with_its_services(self):
        name = self.boot()
        self.wait_running(name)
        self.assertEqual(self.exec_ok(name, "systemctl", "--failed", "--no-legend").strip(), "")
        r = self.docker("exec", name, "systemctl", "is-active", "ssh", "cron", "docker", "dbus",
                        "systemd-journald")
        self.assertEqual(r.out.split(), ["active"] * 5, r)
        # PID 1 is systemd, told it runs in a container.
        self.assertEqual(self.exec_ok(name, "cat", "/proc/1/comm").strip(), "systemd")
        self.assertEqual(self.exec_ok(name, "systemd-detect-virt", "-c").strip(),
                         "container-other")
        # /run and /run/lock are tmpfs from the start.
        mounts = self.exec_ok(name, "findmnt", "-n", "-o", "TARGET,FSTYPE", "--target", "/run")
        self.assertEqual(mounts.split(), ["/run", "tmpfs"], mounts)
        self.assertEqual(self.exec_ok(name, "findmnt", "-n", "-o", "FSTYPE", "/run/lock").strip(),
                         "tmpfs")
        # Docker inside, through the dockerd systemd started.
        with e2e.busybox_tarball() as tar:
            self.docker_ok("cp", tar, f"{name}:/tmp/inner.tar")
        self.exec_ok(name, "docker", "import", "/tmp/inner.tar", "inner:1")
        out = self.exec_ok(name, "docker", "run", "--rm", "--network", "none", "inner:1", "echo",
                           "inner-ok", timeout=120)
        self.assertEqual(out.strip(), "inner-ok")
        # journald has the boot; hostnamed shows Docker's hostname for the container.
        journal = self.exec_ok(name, "journalctl", "-b", "--no-pager")
        self.assertIn("Journal started", journal)
        self.assertIn("Started ssh.service", journal)
        hostname = self.inspect(name, "{{.Config.Hostname}}")
        host = self.exec_ok(name, "hostnamectl", "hostname").strip()
        self.assertEqual(host, hostname)
        self.assertIn(f"Static hostname: {hostname}", self.exec_ok(name, "hostnamectl"))
        # Services get their own cgroups in the controllers' hierarchies too (delegation), not
        # only in name=systemd.
        pid = self.exec_ok(name, "systemctl", "show", "-P", "MainPID", "ssh").strip()
        cgroups = self.exec_ok(name, "cat", f"/proc/{pid}/cgroup")
        for controller in ("memory", "pids"):
            self.assertIn(f":{controller}:/system.slice/ssh.service\n", cgroups)
        # The boot is on the console, which `docker logs` shows, one line per line.
        logs = self.logs(name)
        self.assertIn("Reached target multi-user.target", logs)
        self.assertNotIn("\r\n", logs)

    def test_stop_halts_cleanly_and_restart_boots_again(self):
        name = self.boot()
        self.wait_running(name)
        cid = self.inspect(name, "{{.Id}}")
        self.assertEqual(len(self.relays_of(cid)), 1)
        start = time.monotonic()
        self.docker_ok("stop", name, timeout=60)  # Docker's default 10 s before SIGKILL
        took = time.monotonic() - start
        logs = self.logs(name)
        self.assertLess(took, 5, f"docker stop took {took:.1f} s:\n{logs[-2000:]}")
        # An orderly halt: services stopped, then systemd-shutdown; not a SIGKILL (137).
        self.assertIn("Stopped ssh.service", logs)
        self.assertIn("Reached target shutdown.target", logs)
        self.assertIn("Halting system.", logs)
        code = int(self.inspect(name, "{{.State.ExitCode}}"))
        self.assertIn(code, (0, 130), logs[-2000:])
        # The relay went with the container.
        wait_for(lambda: not self.relays_of(cid), 10, "the console relay to exit")
        # Started again, and restarted: a new boot each time.
        self.docker_ok("start", name)
        self.wait_running(name)
        self.docker_ok("restart", name, timeout=60)
        self.wait_running(name)
        self.assertEqual(self.logs(name).count("Reached target multi-user.target"), 3)
        self.assertEqual(len(self.relays_of(cid)), 1)
        self.docker_ok("rm", "-f", name)
        self.names.remove(name)
        wait_for(lambda: not self.relays_of(cid), 10, "the console relay to exit")

    def test_with_a_terminal(self):
        # -t: the pty Docker reads is the console itself; no relay.
        name = self.boot("-t")
        self.wait_running(name)
        self.assertEqual(self.relays_of(self.inspect(name, "{{.Id}}")), [])
        # TERM=xterm with -t: systemd colours its console.
        plain = re.sub(r"\x1b\[[0-9;]*m", "", self.logs(name))
        self.assertIn("Reached target multi-user.target", plain)
        start = time.monotonic()
        self.docker_ok("stop", name, timeout=60)
        self.assertLess(time.monotonic() - start, 5)

    def test_sigterm_stays_sigterm_for_other_inits(self):
        # Only a systemd init gets SIGRTMIN+3 for docker stop.
        name = self.docker_run_d("--", "sh", "-c",
                                 "trap 'exit 7' TERM; while :; do sleep 0.1; done")
        self.docker_ok("stop", name, timeout=60)
        self.assertEqual(self.inspect(name, "{{.State.ExitCode}}"), "7")


if __name__ == "__main__":
    e2e.main()
