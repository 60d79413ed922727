#!/usr/bin/env python3
"""The Debian package (issue 9), installed where a real system runs systemd: a sysvisor system
container booting e2e's systemd image (Debian with docker.io, python3, fuse3). `dpkg -i` starts
sysvisor-mgr and sysvisor-fs under systemd (sysvisor.service active (exited)), merges
sysvisor-runc into an existing /etc/docker/daemon.json (other keys kept, Docker reloaded) and
mgr adds its subuid/subgid lines; a reinstall works; `dpkg -r` stops and removes the units and
takes only our daemon.json entry out, keeping the data; `dpkg -P` deletes the data; without
Docker the install succeeds with a hint, and `dpkg-reconfigure` registers once Docker is there.

The package comes from build-deb/ (scripts/package.sh; scripts/test.sh builds it first)."""

import glob
import json
import os
import shutil

import e2e
from e2e import DockerTest, SystemdMixin, wait_for

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEB_DIR = os.environ.get("SV_DEB_DIR", os.path.join(REPO, "build-deb"))
ORIGINAL = {"log-level": "warn", "runtimes": {"crun": {"path": "/usr/bin/crun"}}}


def find_deb():
    debs = sorted(glob.glob(os.path.join(DEB_DIR, "sysvisor_*.deb")))
    if not debs:
        raise AssertionError(f"no sysvisor_*.deb in {DEB_DIR}: build it with "
                             "`bash scripts/package.sh` (scripts/test.sh does)")
    return debs[-1]


class DebInstallTest(SystemdMixin, DockerTest):
    def setUp(self):
        super().setUp()
        self.deb = find_deb()
        # mgr refuses a data root on overlayfs (the container's root): a volume, as a real
        # host has its own disk there.
        self.data = os.path.join(e2e.DATA_DIR, f"deb-data-{os.getpid()}")
        os.makedirs(self.data, exist_ok=True)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.data, ignore_errors=True)

    def sh(self, name, script, ok=True, timeout=300):
        r = self.docker("exec", name, "sh", "-c", script, timeout=timeout)
        if ok:
            self.assertEqual(r.rc, 0, r)
        return r

    def daemon_json(self, name):
        return json.loads(self.sh(name, "cat /etc/docker/daemon.json").out)

    def active(self, name, *units):
        return self.docker("exec", name, "systemctl", "is-active", *units).out.split()

    def test_install_reinstall_remove_purge(self):
        name = self.boot("--device", "/dev/fuse", "-v", f"{self.data}:/var/lib/sysvisor")
        self.wait_running(name)
        self.sh(name, f"cat > /etc/docker/daemon.json <<'EOF'\n{json.dumps(ORIGINAL)}\nEOF")
        self.docker_ok("cp", self.deb, f"{name}:/tmp/sysvisor.deb")

        r = self.sh(name, "dpkg -i /tmp/sysvisor.deb 2>&1")
        self.assertIn("added sysvisor-runc to /etc/docker/daemon.json", r.out)
        self.assertIn("reloading Docker", r.out)
        self.check_installed(name)
        cfg = self.daemon_json(name)
        self.assertEqual(cfg["log-level"], "warn")
        self.assertEqual(cfg["runtimes"]["crun"], {"path": "/usr/bin/crun"})
        self.assertEqual(cfg["runtimes"]["sysvisor-runc"], {"path": "/usr/bin/sysvisor-runc"})
        # Docker took it without a restart (a reload).
        wait_for(lambda: "sysvisor-runc" in self.sh(
            name, "docker info --format '{{json .Runtimes}}'").out, 30, "Docker to know it")
        for f in ("/etc/subuid", "/etc/subgid"):
            self.assertRegex(self.sh(name, f"cat {f}").out, r"(?m)^sysvisor:\d+:268435456$")
        status = self.sh(name, "sysvisor-mgr status").out
        self.assertIn("pool:", status)
        self.assertTrue(os.path.exists(os.path.join(self.data, "ids.json")),
                        os.listdir(self.data))

        # Reinstall (an upgrade to the same version) with a "container" registered with
        # sysvisor-fs (a process here stands for its init): both daemons restart, fs serves it
        # on, mgr keeps its pool. (mgr cannot hand out a range in here: its ids are not mapped
        # in this container's user namespace, so making the range's stores fails.)
        init = self.sh(name, "sleep 1000 >/dev/null 2>&1 & echo $!").out.strip()
        self.sh(name, f"sysvisor-fs register deb-c1 {init}")
        pool = [l for l in self.sh(name, "sysvisor-mgr status").out.splitlines()
                if l.startswith("pool:")]
        before = self.sh(name, "systemctl show -P MainPID sysvisor-mgr sysvisor-fs").out.split()
        r = self.sh(name, "dpkg -i /tmp/sysvisor.deb 2>&1")
        self.assertNotIn("added sysvisor-runc", r.out)  # already there: Docker left alone
        self.check_installed(name)
        after = self.sh(name, "systemctl show -P MainPID sysvisor-mgr sysvisor-fs").out.split()
        self.assertNotEqual(before[0], after[0], "mgr was not restarted by the upgrade")
        self.assertNotEqual(before[1], after[1], "fs was not restarted by the upgrade")
        self.assertEqual([l for l in self.sh(name, "sysvisor-mgr status").out.splitlines()
                          if l.startswith("pool:")], pool)
        self.assertIn("deb-c1", self.sh(name, "sysvisor-fs status").out)
        up = self.sh(name, "timeout 10 cat /var/lib/sysvisorfs/deb-c1/proc/uptime").out.split()
        self.assertEqual(len(up), 2, up)
        self.sh(name, f"sysvisor-fs unregister deb-c1 && kill {init}")

        # Remove: units stopped and gone, our entry out of daemon.json, data kept.
        r = self.sh(name, "dpkg -r sysvisor 2>&1")
        self.assertIn("removed sysvisor-runc from /etc/docker/daemon.json", r.out)
        self.assertEqual(self.active(name, "sysvisor-mgr", "sysvisor-fs", "sysvisor"),
                         ["inactive"] * 3)
        # (systemctl exits 1 when nothing matches.)
        units = self.sh(name, "systemctl list-unit-files --no-legend 'sysvisor*'", ok=False)
        self.assertEqual(units.out.strip(), "", units)
        self.assertEqual(self.daemon_json(name), ORIGINAL)
        self.assertTrue(os.path.exists(os.path.join(self.data, "ids.json")))
        self.assertIn("sysvisor:", self.sh(name, "cat /etc/subuid").out)

        # Purge: the data goes too (the volume itself is a mount point and stays, empty).
        self.sh(name, "dpkg -P sysvisor 2>&1")
        self.assertEqual(os.listdir(self.data), [])
        self.assertNotIn("sysvisor:", self.sh(name, "cat /etc/subuid /etc/subgid").out)
        self.assertEqual(self.sh(name, "ls /var/log | grep -c sysvisor", ok=False).out.strip(),
                         "0")

        # Installed again after the purge: a fresh start.
        self.sh(name, "dpkg -i /tmp/sysvisor.deb 2>&1")
        self.check_installed(name)
        self.sh(name, "dpkg -P sysvisor 2>&1")

    def test_without_docker_a_hint_then_reconfigure(self):
        name = self.boot("--device", "/dev/fuse", "-v", f"{self.data}:/var/lib/sysvisor")
        self.wait_running(name)
        self.docker_ok("cp", self.deb, f"{name}:/tmp/sysvisor.deb")
        # A host without Docker: no daemon, no /etc/docker, no dockerd.
        self.sh(name, "systemctl stop docker.service docker.socket && "
                      "mv /etc/docker /etc/docker.off && mv /usr/sbin/dockerd /usr/sbin/dockerd.off")
        r = self.sh(name, "dpkg -i /tmp/sysvisor.deb 2>&1")
        self.assertIn("Docker is not installed", r.out)
        self.assertIn("dpkg-reconfigure sysvisor", r.out)
        self.check_installed(name)
        self.assertEqual(self.sh(name, "test -e /etc/docker; echo $?").out.strip(), "1")
        # Docker arrives: dpkg-reconfigure registers sysvisor-runc.
        self.sh(name, "mv /etc/docker.off /etc/docker && mv /usr/sbin/dockerd.off /usr/sbin/dockerd"
                      " && rm -f /etc/docker/daemon.json && systemctl start docker.service")
        r = self.sh(name, "dpkg-reconfigure sysvisor 2>&1")
        self.assertIn("added sysvisor-runc", r.out)
        self.assertEqual(self.daemon_json(name),
                         {"runtimes": {"sysvisor-runc": {"path": "/usr/bin/sysvisor-runc"}}})
        self.sh(name, "dpkg -P sysvisor 2>&1")
        # Nothing was there before us: removing our entry leaves an empty object.
        self.assertEqual(self.daemon_json(name), {})

    def check_installed(self, name):
        self.assertEqual(self.active(name, "sysvisor-mgr", "sysvisor-fs"), ["active"] * 2)
        show = self.sh(name, "systemctl show -p ActiveState -p SubState sysvisor.service").out
        self.assertIn("ActiveState=active", show)
        self.assertIn("SubState=exited", show)
        units = self.sh(name, "systemctl list-units -t service --all --no-legend | grep sysvisor").out
        for unit in ("sysvisor-fs.service", "sysvisor-mgr.service"):
            line = [l for l in units.splitlines() if unit in l]
            self.assertTrue(line and "running" in line[0], units)
        # The FUSE file system is up (fs inside a system container: /dev/fuse passed in).
        self.assertIn("mountpoint: /var/lib/sysvisorfs", self.sh(name, "sysvisor-fs status").out)
        self.assertIn("enabled", self.sh(name, "systemctl is-enabled sysvisor.service").out)


if __name__ == "__main__":
    e2e.main()
