#!/usr/bin/env python3
"""The Debian package that scripts/package.sh built (build-deb/): what it installs, its
maintainer scripts and units, and lintian without errors."""

import glob
import os
import subprocess
import sys
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEB_DIR = os.environ.get("SV_DEB_DIR", os.path.join(REPO, "build-deb"))


def find(pattern):
    hits = sorted(glob.glob(os.path.join(DEB_DIR, pattern)))
    if not hits:
        raise AssertionError(f"no {pattern} in {DEB_DIR}: build the package with "
                             "`bash scripts/package.sh` (scripts/test.sh does)")
    return hits[-1]


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.deb = find("sysvisor_*.deb")

    def test_contents(self):
        listing = run("dpkg-deb", "-c", self.deb).stdout
        entries = {}
        for line in listing.splitlines():
            f = line.split(None, 5)
            path = f[5].split(" -> ")[0].lstrip(".")
            entries[path] = (f[0], f[5])
        self.assertTrue(entries["/usr/bin/sysvisor"][0].startswith("-rwxr-xr-x"))
        for role in ("sysvisor-runc", "sysvisor-fs", "sysvisor-mgr"):
            self.assertIn(f"/usr/bin/{role} -> sysvisor", entries[f"/usr/bin/{role}"][1])
        for unit in ("sysvisor.service", "sysvisor-mgr.service", "sysvisor-fs.service"):
            self.assertIn(f"/lib/systemd/system/{unit}", entries)
        for path in ("/usr/lib/sysvisor/register-runtime", "/usr/lib/sysctl.d/50-sysvisor.conf",
                     "/etc/logrotate.d/sysvisor"):
            self.assertIn(path, entries)
        # Tests are not packaged.
        self.assertFalse([p for p in entries if "test" in p.lower() and "sysctl" not in p], entries)

    def test_units_and_scripts(self):
        unit = run("sh", "-c", f"dpkg-deb --fsys-tarfile {self.deb} | "
                   "tar -xOf - ./lib/systemd/system/sysvisor-fs.service").stdout
        self.assertIn("ExecStart=/usr/bin/sysvisor-fs", unit)
        self.assertIn("PartOf=sysvisor.service", unit)
        self.assertIn("After=sysvisor-mgr.service", unit)
        self.assertIn("Restart=on-failure", unit)
        umbrella = run("sh", "-c", f"dpkg-deb --fsys-tarfile {self.deb} | "
                       "tar -xOf - ./lib/systemd/system/sysvisor.service").stdout
        self.assertIn("Type=oneshot", umbrella)
        self.assertIn("RemainAfterExit=yes", umbrella)
        control = run("dpkg-deb", "-f", self.deb, "Depends").stdout
        for dep in ("fuse3", "python3", "libc6"):
            self.assertIn(dep, control)
        info = run("dpkg-deb", "-I", self.deb).stdout
        for script in ("postinst", "prerm", "postrm"):
            self.assertIn(script, info)
        # Every maintainer script is valid sh.
        tmp = run("mktemp", "-d").stdout.strip()
        try:
            self.assertEqual(run("dpkg-deb", "-e", self.deb, tmp).returncode, 0)
            for script in ("postinst", "prerm", "postrm"):
                r = run("sh", "-n", os.path.join(tmp, script))
                self.assertEqual(r.returncode, 0, (script, r.stderr))
        finally:
            run("rm", "-rf", tmp)

    def test_lintian_reports_no_errors(self):
        changes = find("sysvisor_*.changes")
        r = run("lintian", "--fail-on", "error", "--tag-display-limit", "0", changes)
        print(r.stdout + r.stderr, file=sys.stderr)
        errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
        self.assertEqual(errors, [])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
