"""Shared helpers for the sysvisor-runc integration tests (stdlib only).

Environment:
  SV_RUNC               runtime under test: a runc-compatible binary, or the multi-call
                        `sysvisor` binary (then invoked through a `sysvisor-runc` symlink).
  SV_PROBE              the static probe program copied into every rootfs as /probe.
  SV_BUILD_DIR          build directory; the rootfs template is cached in <dir>/test-rootfs.
  SV_RUNC_IS_REFERENCE  "1" when SV_RUNC is the reference runc: SYSVISOR_ONLY tests are skipped.
  SV_TEST_VERBOSE       "1" prints every runtime invocation.
  SV_RUNC_GLOBAL_ARGS   extra global flags for every invocation (e.g. "--debug").

Every test gets fresh bundles under a private temp dir, container ids prefixed `svit-`, and a
per-module `--root`. tearDown force-deletes what the test created and fails the test if any
state dir, mount, cgroup or process is left behind.
"""

import atexit
import copy
import errno
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

IS_REFERENCE = os.environ.get("SV_RUNC_IS_REFERENCE") == "1"
VERBOSE = os.environ.get("SV_TEST_VERBOSE") == "1"
BUILD_DIR = os.environ.get("SV_BUILD_DIR", "")
DEFAULT_TIMEOUT = 30

# Exactly what `runc spec` (runc 1.1.5) writes; tests derive their config.json from a copy.
DEFAULT_SPEC = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [
            {"type": "pid"},
            {"type": "network"},
            {"type": "ipc"},
            {"type": "uts"},
            {"type": "mount"},
        ],
        "maskedPaths": [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ],
    },
}

BUSYBOX_APPLETS = [
    "sh", "ash", "true", "false", "sleep", "cat", "ls", "echo", "id", "mount", "umount", "env",
    "sysctl", "uname", "readlink", "stat", "touch", "mkdir", "rm", "grep", "head", "tail", "wc",
    "hostname", "linux32", "kill", "ps", "test", "[", "printf", "pwd", "chmod", "ln", "cp",
]

PASSWD = """root:x:0:0:root:/root:/bin/sh
svuser:x:1000:1000:svuser:/home/svuser:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
tty:x:5:
svgroup:x:1000:svuser
svextra:x:2000:svuser
nogroup:x:65534:
"""


def default_spec():
    return copy.deepcopy(DEFAULT_SPEC)


def sysvisor_only(reason):
    """Marks a test of sysvisor's stricter-than-runc behaviour.

    Skipped (with the reason printed) only when SV_RUNC_IS_REFERENCE=1; always run otherwise.
    """
    if IS_REFERENCE:
        return unittest.skip(f"SYSVISOR_ONLY: {reason}")
    return lambda f: f


def parse_kv(text):
    """Parses probe `key=value` lines into a dict (later keys win)."""
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def mountinfo(text=None):
    """Parses mountinfo text into dicts: root, mountpoint, opts, optional, fstype, source, super."""
    if text is None:
        with open("/proc/self/mountinfo") as f:
            text = f.read()
    rows = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        if len(f) < 6 or len(r) < 2:
            continue
        unesc = lambda s: s.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        rows.append({
            "id": f[0], "parent": f[1], "dev": f[2], "root": unesc(f[3]),
            "mountpoint": unesc(f[4]), "opts": f[5].split(","), "optional": f[6:],
            "fstype": r[0], "source": r[1], "super": r[2].split(",") if len(r) > 2 else [],
        })
    return rows


def find_mount(rows, mountpoint):
    """The last (top-most) mount at `mountpoint`, or None."""
    found = None
    for row in rows:
        if row["mountpoint"] == mountpoint:
            found = row
    return found


# --------------------------------------------------------------------------------------------
# Locating the binaries


def _find_runtime():
    path = os.environ.get("SV_RUNC")
    if not path and BUILD_DIR:
        path = os.path.join(BUILD_DIR, "sysvisor")
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"svtest: SV_RUNC is not set or not executable: {path!r}")
    path = os.path.abspath(path)
    if os.path.basename(path) == "sysvisor":
        # The multi-call binary picks its role from argv[0]: give it a sysvisor-runc name.
        d = tempfile.mkdtemp(prefix="svit-bin-")
        atexit.register(shutil.rmtree, d, True)
        link = os.path.join(d, "sysvisor-runc")
        os.symlink(path, link)
        return link
    return path


def _find_probe():
    path = os.environ.get("SV_PROBE")
    if not path and BUILD_DIR:
        path = os.path.join(BUILD_DIR, "test", "sv-probe")
    if not path or not os.path.isfile(path):
        sys.exit(f"svtest: SV_PROBE is not set or missing: {path!r}")
    return os.path.abspath(path)


RUNC = _find_runtime()
GLOBAL_ARGS = os.environ.get("SV_RUNC_GLOBAL_ARGS", "").split()
PROBE = _find_probe()
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


# --------------------------------------------------------------------------------------------
# Rootfs template


def _stamp():
    parts = []
    for p in (PROBE, BUSYBOX):
        st = os.stat(p)
        parts.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts + ["v3"]) + "\n"


def _build_template(dest):
    for d in ("bin", "proc", "sys", "dev", "etc", "root", "mnt", "home/svuser", "var"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.makedirs(os.path.join(dest, "tmp"))
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(dest, "bin", applet))
    shutil.copy2(PROBE, os.path.join(dest, "probe"))
    os.chmod(os.path.join(dest, "probe"), 0o755)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write(GROUP)
    with open(os.path.join(dest, "etc", "hostname"), "w") as f:
        f.write("template\n")
    with open(os.path.join(dest, ".svit-stamp"), "w") as f:
        f.write(_stamp())


_TEMPLATE = None


def rootfs_template():
    """Builds (once per run, cached across runs while the inputs are unchanged) the rootfs."""
    global _TEMPLATE
    if _TEMPLATE:
        return _TEMPLATE
    if BUILD_DIR and os.path.isdir(BUILD_DIR):
        base = os.path.join(os.path.abspath(BUILD_DIR), "test-rootfs")
    else:
        base = os.path.join(tempfile.gettempdir(), "svit-test-rootfs")
    try:
        with open(os.path.join(base, ".svit-stamp")) as f:
            fresh = f.read() == _stamp()
    except OSError:
        fresh = False
    if not fresh:
        tmp = tempfile.mkdtemp(prefix="test-rootfs.", dir=os.path.dirname(base))
        os.chmod(tmp, 0o755)
        _build_template(tmp)
        if os.path.lexists(base):
            old = base + f".old.{os.getpid()}"
            try:
                os.rename(base, old)
                shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass  # another test process is replacing it too
        try:
            os.rename(tmp, base)
        except OSError:
            # Lost a race with a concurrent build of the same inputs: use theirs.
            shutil.rmtree(tmp, ignore_errors=True)
    _TEMPLATE = base
    return base


# --------------------------------------------------------------------------------------------
# Running the runtime


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def kv(self):
        return parse_kv(self.out)

    def __repr__(self):
        return (f"Result(argv={self.argv!r}, rc={self.rc},\n  out={self.out[-2000:]!r},\n"
                f"  err={self.err[-2000:]!r})")


def run_argv(argv, timeout=DEFAULT_TIMEOUT, input=None, stdin=None, cwd=None, env=None,
             preexec_fn=None, pass_fds=()):
    """Runs argv with stdout/stderr in temp files (never pipes: a container may inherit them
    and keep them open long after the runtime exits)."""
    if VERBOSE:
        print("  $", " ".join(argv), file=sys.stderr)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if input is not None:
            stdin_f = tempfile.TemporaryFile()
            stdin_f.write(input.encode() if isinstance(input, str) else input)
            stdin_f.seek(0)
        else:
            stdin_f = stdin if stdin is not None else subprocess.DEVNULL
        try:
            p = subprocess.Popen(argv, stdin=stdin_f, stdout=out, stderr=err, cwd=cwd, env=env,
                                 preexec_fn=preexec_fn, pass_fds=pass_fds)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                out.seek(0)
                err.seek(0)
                raise AssertionError(
                    f"timeout after {timeout}s: {argv!r}\nstdout={out.read()[-2000:]!r}\n"
                    f"stderr={err.read()[-2000:]!r}")
        finally:
            if input is not None:
                stdin_f.close()
        out.seek(0)
        err.seek(0)
        return Result(argv, rc, out.read().decode(errors="replace"),
                      err.read().decode(errors="replace"))


_ROOT = None


def module_root():
    """The private --root shared by all tests of this module (process)."""
    global _ROOT
    if _ROOT is None:
        _ROOT = tempfile.mkdtemp(prefix="svit-root-")
    return _ROOT


def _cleanup_module_root():
    if _ROOT and os.path.isdir(_ROOT):
        left = [e for e in os.listdir(_ROOT) if e != ".seccomp-cache"]
        for name in left:
            if name.startswith("svit-"):
                run_argv([RUNC, *GLOBAL_ARGS, "--root", _ROOT, "delete", "--force", name],
                         timeout=15)
        shutil.rmtree(_ROOT, ignore_errors=True)
        return left
    return []


_ids = itertools.count(1)


def _own_cgroup_paths():
    paths = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                for c in (ctrls.split(",") if ctrls else ["unified"]):
                    paths[c.replace("name=", "")] = path
    except OSError:
        pass
    return paths


def _leftover_cgroups(cid):
    found = []
    own = _own_cgroup_paths()
    base = "/sys/fs/cgroup"
    try:
        ctrls = os.listdir(base)
    except OSError:
        return found
    for c in ctrls:
        cands = {os.path.join(base, c, cid)}
        for key, path in own.items():
            if key == c or (c == "unified" and key == "unified"):
                cands.add(os.path.join(base, c, path.lstrip("/"), cid))
        cands.add(os.path.join(base, cid))
        found += [p for p in cands if os.path.isdir(p)]
    return sorted(set(found))


def proc_state(pid):
    """The one-letter state of pid (R, S, Z, ...) or None when it no longer exists."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def leaked_processes(needle):
    """Live processes that still use a path containing `needle`: a mount namespace whose
    mountinfo mentions it (container processes) or a cwd inside it."""
    me = os.getpid()
    try:
        my_mnt = os.readlink("/proc/self/ns/mnt")
    except OSError:
        my_mnt = None
    leaks = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        if proc_state(pid) in (None, "Z", "X"):
            continue
        try:
            mnt = os.readlink(f"/proc/{pid}/ns/mnt")
            hit = False
            if mnt != my_mnt:
                with open(f"/proc/{pid}/mountinfo") as f:
                    hit = needle in f.read()
            if not hit:
                hit = os.readlink(f"/proc/{pid}/cwd").startswith(needle)
        except OSError:
            continue
        if hit:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            leaks.append((pid, cmd))
    return leaks


class Bundle:
    def __init__(self, path, spec):
        self.path = path
        self.spec = spec

    @property
    def rootfs(self):
        return os.path.join(self.path, "rootfs")

    @property
    def config(self):
        return os.path.join(self.path, "config.json")

    def save(self):
        with open(self.config, "w") as f:
            json.dump(self.spec, f, indent=2)
        return self

    # Spec editing shortcuts.
    def set_args(self, *args):
        self.spec["process"]["args"] = list(args)
        return self.save()

    def add_mount(self, destination, type, source, options=None, **extra):
        m = {"destination": destination, "type": type, "source": source}
        if options is not None:
            m["options"] = list(options)
        m.update(extra)
        self.spec["mounts"].append(m)
        return self.save()

    def drop_namespace(self, ns_type):
        self.spec["linux"]["namespaces"] = [
            n for n in self.spec["linux"]["namespaces"] if n["type"] != ns_type]
        return self.save()

    def set_namespace(self, ns_type, path=None):
        nss = [n for n in self.spec["linux"]["namespaces"] if n["type"] != ns_type]
        n = {"type": ns_type}
        if path:
            n["path"] = path
        nss.append(n)
        self.spec["linux"]["namespaces"] = nss
        return self.save()


class ContainerTest(unittest.TestCase):
    """Base class: per-test bundles and ids, automatic force-delete and leak checks."""

    maxDiff = None

    def setUp(self):
        self.root = module_root()
        self.tmp = tempfile.mkdtemp(prefix="svit-")
        os.chmod(self.tmp, 0o755)
        self.ids = []
        self.children = []
        self.host_cleanup = []
        self.allowed_mounts = set()  # host mountpoints under self.tmp the test made itself

    # -- naming and bundles --------------------------------------------------------------

    def new_id(self, tag="c"):
        cid = f"svit-{tag}-{os.getpid():x}-{next(_ids)}"
        self.ids.append(cid)
        return cid

    def bundle(self, args=("/probe", "id"), readonly=False, terminal=False, mutate=None,
               name=None, spec=None):
        """A fresh bundle: a copy of the rootfs template plus config.json from the default spec
        (terminal off, args set, root writable unless readonly=True)."""
        if name is None:
            name = "bundle"
            n = 1
            while os.path.lexists(os.path.join(self.tmp, name)):
                n += 1
                name = f"bundle-{n}"
        path = os.path.join(self.tmp, name)
        os.makedirs(path)
        subprocess.run(["cp", "-a", rootfs_template(), os.path.join(path, "rootfs")], check=True)
        os.remove(os.path.join(path, "rootfs", ".svit-stamp"))
        if spec is None:
            spec = default_spec()
            spec["process"]["terminal"] = terminal
            spec["process"]["args"] = list(args)
            spec["root"]["readonly"] = readonly
        b = Bundle(path, spec)
        if mutate:
            mutate(b.spec)
        return b.save()

    def mount_overlay(self, template, prefix, subdir=""):
        """A fresh overlay (lower, upper and work dirs named <prefix>lower etc. in the test's
        dir) whose lower layer holds a copy of the bundle `template`'s rootfs (as `subdir` of it
        when given), mounted on <prefix>merged and unmounted after the test.
        Returns (merged, lower, upper)."""
        lower, upper, work, merged = (os.path.join(self.tmp, prefix + d)
                                      for d in ("lower", "upper", "work", "merged"))
        shutil.copytree(template.rootfs, os.path.join(lower, subdir), symlinks=True)
        for d in (upper, work, merged):
            os.mkdir(d)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={work}", merged], check=True)
        self.allowed_mounts.add(merged)
        self.host_cleanup.append(lambda: subprocess.run(["umount", merged], check=True))
        return merged, lower, upper

    def rootfs_in_overlay(self, template):
        """The rootfs as directory `rootfs` inside an overlay (not its mount point), which cannot
        be idmapped: the runtime falls back to chowning it.
        Returns (rootfs seen through the overlay, the same in the lower layer)."""
        merged, lower, _ = self.mount_overlay(template, "", "rootfs")
        return os.path.join(merged, "rootfs"), os.path.join(lower, "rootfs")

    def overlay_rootfs(self, template):
        """The rootfs as the mount point of an overlay with an upper dir, as Docker's
        ".../merged" is. Returns (merged, lower, upper)."""
        return self.mount_overlay(template, "ov-")

    # -- runtime invocations -------------------------------------------------------------

    def runc(self, *args, root=None, global_args=(), **kw):
        """Runs `<runtime> --root <root> [global_args] args...` and returns a Result."""
        argv = [RUNC, *GLOBAL_ARGS, "--root", root or self.root, *global_args, *args]
        return run_argv(argv, **kw)

    def runc_ok(self, *args, **kw):
        r = self.runc(*args, **kw)
        self.assertEqual(r.rc, 0, f"runtime failed: {r!r}")
        return r

    def popen(self, *args, root=None, stdout=None, stderr=None, stdin=None, **kw):
        """Starts the runtime in the background; the test owns waiting. Output to files."""
        argv = [RUNC, *GLOBAL_ARGS, "--root", root or self.root, *args]
        if VERBOSE:
            print("  $&", " ".join(argv), file=sys.stderr)
        out = stdout or open(os.path.join(self.tmp, f"popen-{len(self.children)}.out"), "w+")
        err = stderr or open(os.path.join(self.tmp, f"popen-{len(self.children)}.err"), "w+")
        p = subprocess.Popen(argv, stdout=out, stderr=err,
                             stdin=stdin if stdin is not None else subprocess.DEVNULL, **kw)
        p.out_file, p.err_file = out, err
        self.children.append(p)
        return p

    @staticmethod
    def read_output(p):
        p.out_file.flush()
        p.err_file.flush()
        with open(p.out_file.name) as o, open(p.err_file.name) as e:
            return o.read(), e.read()

    def run_container(self, b, cid=None, extra=(), **kw):
        """Foreground `run` of bundle b; returns the Result (the container's own exit code)."""
        cid = cid or self.new_id("run")
        return self.runc("run", "--bundle", b.path, *extra, cid, **kw)

    def probe(self, *verb, mutate=None, readonly=False, expect_rc=0, b=None, **kw):
        """Runs /probe VERB... in a fresh container (foreground) and returns the Result."""
        b = b or self.bundle(args=["/probe", *verb], readonly=readonly, mutate=mutate)
        r = self.run_container(b, **kw)
        if expect_rc is not None:
            self.assertEqual(r.rc, expect_rc, f"probe {verb} exit code: {r!r}")
        return r

    def create(self, b, cid=None, extra=(), stdout=None, stderr=None, stdin=None,
               expect_ok=True, **kw):
        """`create` with stdio in files: stdout/stderr/stdin may name paths the container
        inherits (then Result.out/err are empty). Returns (cid, Result)."""
        cid = cid or self.new_id("cr")
        if stdout is not None or stderr is not None or stdin is not None:
            outf = open(stdout or os.devnull, "w")
            errf = open(stderr or os.devnull, "w")
            inf = open(stdin or os.devnull, "r")
            try:
                argv = [RUNC, *GLOBAL_ARGS, "--root", self.root, "create", "--bundle", b.path,
                        *extra, cid]
                p = subprocess.run(argv, stdin=inf, stdout=outf, stderr=errf,
                                   timeout=kw.pop("timeout", DEFAULT_TIMEOUT), **kw)
                r = Result(argv, p.returncode, "", "")
            finally:
                outf.close()
                errf.close()
                inf.close()
        else:
            r = self.runc("create", "--bundle", b.path, *extra, cid, **kw)
        if expect_ok:
            self.assertEqual(r.rc, 0, f"create failed: {r!r}")
            st = self.state(cid)
            self.assertEqual(st["status"], "created")
        return cid, r

    def start(self, cid):
        return self.runc_ok("start", cid)

    def state(self, cid, **kw):
        r = self.runc("state", cid, **kw)
        self.assertEqual(r.rc, 0, f"state failed: {r!r}")
        return json.loads(r.out)

    def wait_status(self, cid, status, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status:
                return st
            if time.monotonic() > deadline:
                self.fail(f"{cid}: status {st['status']!r}, wanted {status!r}")
            time.sleep(0.05)

    def run_detached(self, b, cid=None, extra=()):
        cid = cid or self.new_id("det")
        r = self.runc("run", "--detach", "--bundle", b.path, *extra, cid)
        self.assertEqual(r.rc, 0, f"run -d failed: {r!r}")
        self.state(cid)
        return cid

    def wait_file(self, path, timeout=10, nonempty=False):
        """Waits for `path` to exist (and hold data if nonempty) and returns its content."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(path) or (nonempty and os.path.getsize(path) == 0):
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {path}")
            time.sleep(0.05)
        time.sleep(0.05)
        with open(path) as f:
            return f.read()

    def spawn_host(self, argv):
        """A helper process on the host (e.g. `unshare --net sleep`), killed at teardown."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.children.append(p)
        return p

    def share_tmp(self):
        """Makes the test's bundle directory a shared mount on the host, so propagation
        settings have something to act on (and mounts leaking back would show up)."""
        subprocess.run(["mount", "--bind", self.tmp, self.tmp], check=True)
        self.allowed_mounts.add(self.tmp)
        subprocess.run(["mount", "--make-shared", self.tmp], check=True)

    # -- leak checks -------------------------------------------------------------------

    def leftovers(self, allow=()):
        """Everything left behind by this test, as a list of strings (empty when clean)."""
        problems = []
        try:
            # .seccomp-cache: compiled seccomp programs the runtime keeps under its root.
            entries = [e for e in os.listdir(self.root) if e not in allow and e != ".seccomp-cache"]
        except FileNotFoundError:
            entries = []
        if entries:
            problems.append(f"state entries under --root {self.root}: {entries}")
        for row in mountinfo():
            if self.tmp in row["mountpoint"] and row["mountpoint"] not in self.allowed_mounts:
                problems.append(f"host mount left: {row['mountpoint']} ({row['fstype']})")
        allowed_pids = set()
        for cid in allow:
            r = self.runc("state", cid)
            if r.rc == 0:
                allowed_pids.add(json.loads(r.out).get("pid"))
        for pid, cmd in leaked_processes(self.tmp):
            if pid not in allowed_pids:
                problems.append(f"process left: {pid} {cmd!r}")
        for cid in self.ids:
            if cid in allow:
                continue
            for cg in _leftover_cgroups(cid):
                problems.append(f"cgroup left: {cg}")
        return problems

    def check_clean(self, allow=(), timeout=5):
        """Asserts nothing is left: no state dir under --root (except ids in `allow`), no mount
        under the test's bundles, no process using them, no cgroup named after our ids."""
        deadline = time.monotonic() + timeout
        while True:
            problems = self.leftovers(allow)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(problems, [], "runtime left things behind")

    def tearDown(self):
        for cid in reversed(self.ids):
            self.runc("delete", "--force", cid, timeout=15)
        problems = []
        deadline = time.monotonic() + 5
        while True:
            problems = self.leftovers()
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in self.children:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (getattr(p, "out_file", None), getattr(p, "err_file", None)):
                if f:
                    f.close()
        for fn in reversed(self.host_cleanup):
            try:
                fn()
            except Exception as e:  # keep tearing down
                problems.append(f"host cleanup failed: {e}")
        self._remove_tmp(problems)
        if problems:
            self.fail("leftovers after teardown:\n  " + "\n  ".join(problems))

    def _remove_tmp(self, problems):
        # Never rm -rf through a mount: it could be a bind of host files.
        mounted = [r["mountpoint"] for r in mountinfo() if self.tmp in r["mountpoint"]]
        for mp in sorted(mounted, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        if any(self.tmp in r["mountpoint"] for r in mountinfo()):
            problems.append(f"could not unmount everything under {self.tmp}; not removing it")
            return
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_text(path):
    with open(path) as f:
        return f.read()


def host_ns(kind):
    return os.readlink(f"/proc/self/ns/{kind}")


def errno_name(code):
    return errno.errorcode.get(code, str(code))


def main():
    """unittest main with a summary line; exits non-zero on failure or module leftovers."""
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    res = prog.result
    left = _cleanup_module_root()
    name = os.path.basename(sys.argv[0])
    print(f"\n== {name}: ran {res.testsRun}, failures {len(res.failures)}, "
          f"errors {len(res.errors)}, skipped {len(res.skipped)}"
          f"{', module --root not empty: ' + str(left) if left else ''}")
    for test, reason in res.skipped:
        print(f"   skipped {test.id()}: {reason}")
    ok = res.wasSuccessful() and not left
    sys.exit(0 if ok else 1)


__all__ = [
    "ContainerTest", "Bundle", "Result", "DEFAULT_SPEC", "default_spec", "sysvisor_only",
    "parse_kv", "mountinfo", "find_mount", "host_ns", "errno_name", "main", "RUNC", "PROBE",
    "IS_REFERENCE", "run_argv", "read_text", "proc_state", "leaked_processes",
]
