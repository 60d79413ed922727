#!/usr/bin/env python3
"""scripts/register_runtime.py: adding sysvisor-runc to a daemon.json keeps everything else."""

import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "register_runtime.py")
sys.path.insert(0, os.path.dirname(SCRIPT))
import register_runtime  # noqa: E402


class RegisterTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sve2e-reg-")
        self.path = os.path.join(self.dir, "daemon.json")

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def write(self, text, mode=0o600):
        with open(self.path, "w") as f:
            f.write(text)
        os.chmod(self.path, mode)

    def read(self):
        with open(self.path) as f:
            return json.load(f)

    def test_keeps_other_keys_and_runtimes(self):
        original = {"log-level": "warn", "data-root": "/srv/docker",
                    "runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--x"]}},
                    "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 64, "Soft": 64}}}
        self.write(json.dumps(original))
        self.assertTrue(register_runtime.register_docker(self.path, "sysvisor-runc", "/b/sv"))
        got = self.read()
        expected = dict(original)
        expected["runtimes"] = dict(original["runtimes"], **{"sysvisor-runc": {"path": "/b/sv"}})
        self.assertEqual(got, expected)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600, "mode kept")
        with open(self.path + ".sysvisor.bak") as f:
            self.assertEqual(json.load(f), original, "the old file is kept as a backup")
        # Idempotent: a second call changes nothing.
        self.assertFalse(register_runtime.register_docker(self.path, "sysvisor-runc", "/b/sv"))
        # A new path updates the entry and keeps its other fields.
        cfg = self.read()
        cfg["runtimes"]["sysvisor-runc"]["runtimeArgs"] = ["--debug"]
        self.write(json.dumps(cfg))
        self.assertTrue(register_runtime.register_docker(self.path, "sysvisor-runc", "/c/sv"))
        self.assertEqual(self.read()["runtimes"]["sysvisor-runc"],
                         {"path": "/c/sv", "runtimeArgs": ["--debug"]})

    def test_missing_and_empty_file(self):
        self.assertTrue(register_runtime.register_docker(self.path, "sysvisor-runc", "/b/sv"))
        self.assertEqual(self.read(), {"runtimes": {"sysvisor-runc": {"path": "/b/sv"}}})
        self.write("  \n")
        self.assertTrue(register_runtime.register_docker(self.path, "sysvisor-runc", "/b/sv"))

    def test_remove_takes_only_our_entry(self):
        original = {"log-level": "warn",
                    "runtimes": {"crun": {"path": "/usr/bin/crun"}}}
        self.write(json.dumps(original))
        self.assertTrue(register_runtime.register_docker(self.path, "sysvisor-runc", "/b/sv"))
        r = subprocess.run([sys.executable, SCRIPT, "--config", self.path, "--remove"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed from", r.stdout)
        self.assertEqual(self.read(), original)
        self.assertFalse(register_runtime.unregister_docker(self.path, "sysvisor-runc"))
        # "runtimes" goes once it is empty; a missing file stays missing.
        self.write(json.dumps({"runtimes": {"sysvisor-runc": {"path": "/b"}}, "debug": True}))
        self.assertTrue(register_runtime.unregister_docker(self.path, "sysvisor-runc"))
        self.assertEqual(self.read(), {"debug": True})
        os.unlink(self.path)
        self.assertFalse(register_runtime.unregister_docker(self.path, "sysvisor-runc"))
        self.assertFalse(os.path.exists(self.path))

    def test_refuses_broken_files_untouched(self):
        for text in ('{"runtimes": ', "[1, 2]", '{"runtimes": []}'):
            self.write(text)
            r = subprocess.run([sys.executable, SCRIPT, "--config", self.path, "--path", "/b"],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(self.path, r.stderr)
            self.assertIn("fix", r.stderr)
            with open(self.path) as f:
                self.assertEqual(f.read(), text, "a file we cannot parse is never overwritten")


if __name__ == "__main__":
    unittest.main(verbosity=2)
