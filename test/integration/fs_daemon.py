"""A private sysvisor-fs for the tests that need one (system containers register with it), and
a private mgr + fs pair for a whole test module."""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from test_mgr import BIN, Mgr


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


def start_private_daemons(prefix):
    """A private sysvisor-mgr and sysvisor-fs for one test module, in temp dirs named after
    `prefix`, stopped and removed at exit. Sets SV_RUNC_GLOBAL_ARGS so the runtime uses them:
    call it before svtest is imported. Returns (mgr, fs) and the function that stops both."""
    mgr_dir = tempfile.mkdtemp(prefix=prefix + "mgr-")
    mgr = Mgr(mgr_dir)
    mgr.start()
    fs_dir = tempfile.mkdtemp(prefix=prefix + "fs-")
    fs = FsDaemon(fs_dir)
    fs.start()

    def stop():
        fs.stop()
        mgr.stop()
        shutil.rmtree(fs_dir, True)
        shutil.rmtree(mgr_dir, True)

    atexit.register(stop)
    os.environ["SV_RUNC_GLOBAL_ARGS"] = (f"--mgr-socket {mgr.paths['mgr.sock']} "
                                         f"--fs-socket {fs.paths['fs.sock']}")
    return mgr, fs, stop
