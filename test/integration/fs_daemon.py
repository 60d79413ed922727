"""A private sysvisor-fs for the tests that need one (system containers register with it)."""

import json
import os
import signal
import subprocess
import time

from test_mgr import BIN


class FsDaemon:
    """A private sysvisor-fs: FUSE mount, socket, run dir and log under `d`."""

    def __init__(self, d):
        self.paths = {k: os.path.join(d, k) for k in ("mnt", "run", "fs.sock", "fs.log")}
        for k in ("mnt", "run"):
            os.makedirs(self.paths[k], exist_ok=True)
        self.proc = None

    def flags(self):
        p = self.paths
        return ["--mountpoint", p["mnt"], "--socket", p["fs.sock"], "--run-dir", p["run"],
                "--log", p["fs.log"]]

    def start(self):
        self.proc = subprocess.Popen([BIN, "fs", *self.flags()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.status() is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sysvisor-fs did not start: {self.log()}")
            time.sleep(0.02)

    def status(self):
        r = subprocess.run([BIN, "fs", "status", "--json", "--socket", self.paths["fs.sock"]],
                           capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def ids(self):
        return [c["id"] for c in self.status()["containers"]]

    def holder(self):
        try:
            with open(os.path.join(self.paths["run"], "fs", "holder.pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return 0

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None
        with open("/proc/self/mountinfo") as f:
            if self.paths["mnt"] in f.read():
                subprocess.run(["umount", "-l", self.paths["mnt"]])
        if self.holder():
            try:
                os.kill(self.holder(), signal.SIGKILL)
            except OSError:
                pass

    def log(self):
        try:
            with open(self.paths["fs.log"]) as f:
                return f.read()
        except FileNotFoundError:
            return ""
