"""Shared setup of the escape tests (issue 10): private daemons, a private copy of the runtime
binary, `sves-` container ids, and a base class for system and plain OCI containers.

The runtime under test is a copy of the built binary in a temp dir (SV_RUNC points at it before
svtest is imported): an attack that overwrites it (CVE-2019-5736) ruins only the copy, and the
daemons, which run the original, do not keep it busy (ETXTBSY would hide such an overwrite).
"""

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from test_mgr import BIN  # noqa: E402  (BIN: the original binary, for the daemons)
from fs_daemon import start_private_daemons  # noqa: E402

_BIN_DIR = tempfile.mkdtemp(prefix="sves-bin-")
atexit.register(shutil.rmtree, _BIN_DIR, True)
RUNTIME_COPY = os.path.join(_BIN_DIR, "sysvisor")
shutil.copy2(BIN, RUNTIME_COPY)
os.environ["SV_RUNC"] = RUNTIME_COPY


MGR, FS, _ = start_private_daemons("sves-")

import svtest  # noqa: E402
from svtest import parse_kv, mountinfo  # noqa: E402,F401

_seq = iter(range(1, 1 << 30))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_or_none(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# The capabilities Docker gives a container by default, plus CAP_SYS_PTRACE (--cap-add): the
# strongest plain OCI attacker short of --privileged.
DOCKER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
               "CAP_SYS_PTRACE"]


def strong_oci(spec):
    caps = spec["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = list(DOCKER_CAPS)
    caps["ambient"] = []
    spec["process"]["noNewPrivileges"] = False


class EscapeTest(svtest.ContainerTest):
    """System containers by default; `oci=True` on a call runs a plain OCI container
    (--oci-only: no user namespace, the spec as written)."""

    def new_id(self, tag="c"):
        cid = f"sves-{tag}-{os.getpid():x}-{next(_seq)}"
        self.ids.append(cid)
        return cid

    def runc(self, *args, oci=False, **kw):
        if oci:
            kw["global_args"] = ("--oci-only", *kw.get("global_args", ()))
        return super().runc(*args, **kw)

    def tearDown(self):
        # The base class deletes without --oci-only; a plain container's delete needs no daemon
        # either way, so one force-delete each way covers both kinds.
        for cid in reversed(self.ids):
            super().runc("delete", "--force", cid, global_args=("--oci-only",), timeout=15)
        super().tearDown()

    def sc_bundle(self, *args, **kw):
        return self.bundle(args=["/probe", *args], **kw)

    def started(self, b, cid=None, oci=False, out=None):
        """create (stdout to `out`, a file) + start; returns the id."""
        cid = cid or self.new_id("run")
        out = out or os.path.join(self.tmp, f"{cid}.out")
        argv = [svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", self.root,
                *(["--oci-only"] if oci else []), "create", "--bundle", b.path, cid]
        with open(out, "w") as o, open(out + ".err", "w+") as e:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                                timeout=30).returncode
            e.seek(0)
            self.assertEqual(rc, 0, f"create failed: {e.read()}")
        self.runc_ok("start", cid, oci=oci)
        return cid

    def runc_ok(self, *args, oci=False, **kw):
        r = self.runc(*args, oci=oci, **kw)
        self.assertEqual(r.rc, 0, f"runtime failed: {r!r}")
        return r

    def wait_stopped(self, cid, timeout=60, oci=False):
        deadline = time.monotonic() + timeout
        while True:
            r = self.runc("state", cid, oci=oci)
            if r.rc == 0 and '"stopped"' in r.out:
                return
            self.assertLess(time.monotonic(), deadline, f"{cid} did not stop")
            time.sleep(0.1)

    def init_pid(self, cid, oci=False):
        r = self.runc("state", cid, oci=oci)
        self.assertEqual(r.rc, 0, r)
        return json.loads(r.out)["pid"]

    def script(self, b, text, name="attack.sh"):
        """Puts a /bin/sh script into the bundle's rootfs; returns its path inside."""
        p = os.path.join(b.rootfs, name)
        with open(p, "w") as f:
            f.write("#!/bin/sh\n" + text)
        os.chmod(p, 0o755)
        return "/" + name


def main():
    svtest.main()
