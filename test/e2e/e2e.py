"""Shared harness for the e2e tests: the real Docker, containerd and Podman of Debian's packages
drive sysvisor-runc (stdlib only).

Every module starts what it needs and stops what it started:
- a private dockerd (`--bridge=none --iptables=false`, its own config file, data root, exec
  root and socket, containers under the cgroup parent `sysvisor-e2e`), which runs its own
  containerd; a user's own Docker (socket, /var/lib/docker, /etc/docker) is never touched;
- for the containerd tests, a private containerd (own root, state and socket);
- Podman with its own --root/--runroot.
Images are built locally (no registry is reachable): `sve2e-busybox` from Debian's
busybox-static plus the static probe, `sve2e-debian` with debootstrap (minbase bookworm). Both are
cached: the debootstrap tree as a tarball in /var/cache/sysvisor-e2e, the images in the private
data root under /var/lib/sysvisor-e2e, so a second run builds nothing.

Environment: SV_RUNC (the `sysvisor` multi-call binary or a runc-compatible runtime), SV_PROBE
(static probe program), SV_E2E_VERBOSE=1 prints every command.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts"))
import register_runtime  # noqa: E402  (scripts/register_runtime.py)

VERBOSE = os.environ.get("SV_E2E_VERBOSE") == "1"
RUN_DIR = "/run/sysvisor-e2e"
DATA_DIR = "/var/lib/sysvisor-e2e"
CACHE_DIR = "/var/cache/sysvisor-e2e"
PREFIX = "sve2e-"
CGROUP_PARENT = "sysvisor-e2e"
PODMAN_CGROUP_PARENT = f"/{CGROUP_PARENT}/podman"  # Podman's default, libpod_parent, is shared
RUNTIME = "sysvisor-runc"
DOCKER = "/usr/bin/docker"   # Debian's client, matching its daemon (not a newer one on PATH)
DOCKERD = "/usr/sbin/dockerd"
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
PODMAN = "/usr/bin/podman"
BUSYBOX_IMAGE = "sve2e-busybox:1"
DEBIAN_IMAGE = "sve2e-debian:bookworm-procps"
DIND_IMAGE = "sve2e-dind:bookworm"
# systemd as the init (CMD /sbin/init, no STOPSIGNAL), with the services issue 8 names, and
# what sysvisor's .deb depends on (python3, fuse3), to install it there.
SYSTEMD_IMAGE = "sve2e-systemd:bookworm-2"
SYSTEMD_FLAVOUR = "systemd-2"
SYSTEMD_PACKAGES = ("procps", "systemd", "systemd-sysv", "dbus", "docker.io", "openssh-server",
                    "cron", "python3", "fuse3")
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("SV_E2E_MIRROR", "http://deb.debian.org/debian")
DEFAULT_TIMEOUT = 60


# --------------------------------------------------------------------------------------------
# Commands


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __repr__(self):
        return (f"Result(argv={self.argv!r}, rc={self.rc},\n  out={self.out[-3000:]!r},\n"
                f"  err={self.err[-3000:]!r})")


def run(argv, timeout=DEFAULT_TIMEOUT, input=None, env=None, check=False):
    """Runs argv with output in temp files (never pipes: a container may keep them open)."""
    argv = [str(a) for a in argv]
    if VERBOSE:
        print("  $", " ".join(argv), file=sys.stderr)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin = subprocess.DEVNULL
        if input is not None:
            stdin = tempfile.TemporaryFile()
            stdin.write(input.encode() if isinstance(input, str) else input)
            stdin.seek(0)
        try:
            p = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err, env=env)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                out.seek(0)
                err.seek(0)
                raise AssertionError(f"timeout after {timeout}s: {argv!r}\n"
                                     f"stdout={out.read()[-2000:]!r}\nstderr={err.read()[-2000:]!r}")
        finally:
            if input is not None:
                stdin.close()
        out.seek(0)
        err.seek(0)
        r = Result(argv, rc, out.read().decode(errors="replace"),
                   err.read().decode(errors="replace"))
    if check and r.rc != 0:
        raise RuntimeError(f"command failed: {r!r}")
    return r


def _runtime_binary():
    """A `sysvisor-runc` named path for the runtime under test (the multi-call binary picks its
    role from argv[0]); dockerd, containerd's shim and podman exec it by this path."""
    path = os.environ.get("SV_RUNC") or shutil.which("sysvisor-runc")
    if not path or not os.access(path, os.X_OK):
        sys.exit(f"e2e: SV_RUNC is not set or not executable: {path!r}")
    path = os.path.abspath(path)
    if os.path.basename(path) != "sysvisor":
        return path
    bindir = os.path.join(RUN_DIR, "bin")
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, RUNTIME)
    tmp = link + f".{os.getpid()}"
    os.symlink(path, tmp)
    os.replace(tmp, link)
    return link


def _probe_binary():
    path = os.environ.get("SV_PROBE")
    if not path or not os.path.isfile(path):
        sys.exit(f"e2e: SV_PROBE is not set or missing: {path!r}")
    return os.path.abspath(path)


RUNC = _runtime_binary()
PROBE = _probe_binary()


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _mountpoints():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


# --------------------------------------------------------------------------------------------
# Daemons


class Daemon:
    """One private daemon process: started unless its pid file names a live one (then reused
    and left running), stopped with SIGTERM (then SIGKILL) only if this process started it."""

    def __init__(self, name, argv, pidfile, ready, log):
        self.name, self.argv, self.pidfile, self.ready, self.log = name, argv, pidfile, ready, log
        self.proc = None

    def running_pid(self):
        pid = _read_pid(self.pidfile)
        return pid if pid and _pid_alive(pid) else 0

    def start(self, timeout=90):
        pid = self.running_pid()
        if pid and self.ready():
            _reused.append(self.name)
            return
        if pid:
            # Ours (the harness's pid file) from an earlier run, alive but unable to serve (a
            # sysvisor-fs without its mount): replaced, or the new one would find it in the way.
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not _pid_alive(pid), 30, f"the old {self.name} ({pid}) to exit")
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True)
        if self.pidfile and not self.argv_writes_pidfile():
            with open(self.pidfile, "w") as f:
                f.write(f"{self.proc.pid}\n")

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}; its log:\n"
                                     + tail(self.log))
            return self.ready()

        try:
            wait_for(up, timeout, f"{self.name} to answer (log: {self.log})", interval=0.2)
        except BaseException:
            # A daemon that never answered must not outlive the test run.
            self.stop(timeout=10)
            raise

    def argv_writes_pidfile(self):
        return "--pidfile" in self.argv

    def stop(self, timeout=60):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.pidfile)
        self.proc = None


class SysvisorDaemonEnv:
    """What the private sysvisor-mgr and sysvisor-fs share: started once, their socket passed
    down in the environment (ENV), asked for status in JSON, and what they still hold when
    stopped recorded for final_checks."""

    ROLE = ENV = ""
    left = []

    def _ready(self):
        return os.path.exists(self.sock) and self.status(check=False) is not None

    def start(self):
        os.environ[self.ENV] = self.sock
        self.daemon.start()

    def stop(self):
        # What it still holds once every client daemon is gone, for final_checks.
        if self.daemon.proc is not None:
            st = self.status(check=False)
            self.left = None if st is None else [c["id"] for c in st["containers"]]
        self.daemon.stop()

    def status(self, check=True):
        r = run([self.bin, self.ROLE, "status", "--json", *self.status_flags()], timeout=10)
        if r.rc != 0:
            if check:
                raise AssertionError(f"{self.ROLE} status: {r!r}")
            return None
        return json.loads(r.out)


class MgrEnv(SysvisorDaemonEnv):
    """A private sysvisor-mgr for the clients' system containers: its own socket, table and
    subuid/subgid files under RUN_DIR (ids from 1000000000 on, clear of the host's usual
    entries and below 2^31, which `ps` prints as negative), so the host's mgr and /etc/subuid are never touched. The runtime finds it through
    SYSVISOR_MGR_SOCKET, which dockerd, containerd and podman pass down to it."""

    def __init__(self, base_dir=RUN_DIR):
        self.dir = os.path.join(base_dir, "mgr")
        self.sock = os.path.join(self.dir, "mgr.sock")
        files = {n: os.path.join(self.dir, n) for n in ("subuid", "subgid", "login.defs")}
        self.flags = ["--socket", self.sock, "--run-dir", self.dir,
                      # On disk, not under /run (tmpfs on most hosts): it holds the containers'
                      # inner Docker stores, which mgr refuses to put on tmpfs.
                      "--data-root", os.path.join(DATA_DIR, "mgr-data"),
                      "--log", os.path.join(self.dir, "mgr.log"),
                      "--subuid", files["subuid"], "--subgid", files["subgid"],
                      "--login-defs", files["login.defs"]]
        self.bin = os.path.realpath(RUNC)
        self.daemon = Daemon("sysvisor-mgr", [self.bin, "mgr", *self.flags],
                             os.path.join(base_dir, "mgr.harness.pid"), self._ready,
                             os.path.join(self.dir, "mgr.stdout"))
        os.makedirs(self.dir, exist_ok=True)
        for name, path in files.items():
            if not os.path.exists(path):
                with open(path, "w") as f:
                    f.write("SUB_UID_MIN 1000000000\nSUB_GID_MIN 1000000000\n"
                            if name == "login.defs" else "")

    ROLE, ENV = "mgr", "SYSVISOR_MGR_SOCKET"

    def status_flags(self):
        return self.flags

    def entry(self, container_id):
        return {c["id"]: c for c in self.status()["containers"]}.get(container_id)


class FsEnv(SysvisorDaemonEnv):
    """A private sysvisor-fs: its FUSE mount, socket, registrations and log under RUN_DIR, so
    the host's sysvisor-fs is never touched. The runtime finds it through SYSVISOR_FS_SOCKET
    (Podman gets the flag)."""

    def __init__(self, base_dir=RUN_DIR):
        self.dir = os.path.join(base_dir, "fs")
        self.sock = os.path.join(self.dir, "fs.sock")
        self.mnt = os.path.join(self.dir, "mnt")
        self.flags = ["--socket", self.sock, "--run-dir", self.dir, "--mountpoint", self.mnt,
                      "--log", os.path.join(self.dir, "fs.log")]
        self.bin = os.path.realpath(RUNC)
        self.daemon = Daemon("sysvisor-fs", [self.bin, "fs", *self.flags],
                             os.path.join(base_dir, "fs.harness.pid"), self._ready,
                             os.path.join(self.dir, "fs.stdout"))
        os.makedirs(self.dir, exist_ok=True)

    ROLE, ENV = "fs", "SYSVISOR_FS_SOCKET"

    def status_flags(self):
        return ["--socket", self.sock]

    def _ready(self):
        # Reusable only with its FUSE mount in our mount namespace: a daemon whose mount is gone
        # answers status but every container's subtree is missing.
        return super()._ready() and self.mnt in _mountpoints()

    def stop(self):
        if self.daemon.proc is None:
            return  # reused, not ours to stop: its mount stays with it
        super().stop()
        # With registrations left, the daemon leaves its mount to its fd holder (for a
        # restart); the test run is over, so both go.
        if self.mnt in open("/proc/self/mountinfo").read():
            run(["umount", "-l", self.mnt], timeout=10)
        holder = _read_pid(os.path.join(self.dir, "fs", "holder.pid"))
        if holder and _pid_alive(holder):
            os.kill(holder, signal.SIGKILL)


MGR = None
FS = None
# Podman's runtime flags for the above (conmon starts the runtime with a clean environment).
def daemon_flags():
    return ["--runtime-flag", f"mgr-socket={MGR.sock}", "--runtime-flag", f"fs-socket={FS.sock}"]


def ensure_mgr(base_dir=RUN_DIR):
    """Starts the private mgr and fs once per process, before any client daemon (they inherit
    the sockets' paths); stopped after them."""
    global MGR, FS
    if MGR is None:
        MGR = MgrEnv(base_dir)
        MGR.start()
        _cleanup_stack.append(MGR.stop)
    if FS is None:
        FS = FsEnv(base_dir)
        FS.start()
        _cleanup_stack.append(FS.stop)
    return MGR


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


class DockerEnv:
    """The private dockerd with sysvisor-runc registered (and runc, crun for the bench).

    bench/docker_run.py starts another one: its own base_dir (socket, config, exec root, pid
    file, log), data_dir, cgroup_parent and runtimes ({name: path}; None registers sysvisor-runc
    and, if installed, crun)."""

    def __init__(self, base_dir=RUN_DIR, data_dir=DATA_DIR, cgroup_parent=CGROUP_PARENT,
                 runtimes=None):
        self.base_dir, self.cgroup_parent, self.runtimes = base_dir, cgroup_parent, runtimes
        self.run_dir = os.path.join(base_dir, "docker")
        self.sock = os.path.join(base_dir, "docker.sock")
        self.host = f"unix://{self.sock}"
        self.config = os.path.join(base_dir, "daemon.json")
        self.data_root = os.path.join(data_dir, "docker")
        self.env = dict(os.environ, DOCKER_HOST=self.host)
        self.env.pop("DOCKER_CONTEXT", None)
        self.env["DOCKER_CONFIG"] = os.path.join(base_dir, "client")
        # The runc shim tells sysvisor-runc to keep its state under dockerd's exec root, in
        # runtime-<name>/moby; which name depends on dockerd's version (20.10: runtime-runc).
        self.runtime_root = self.run_dir
        self.daemon = Daemon(
            "dockerd",
            [DOCKERD, "--config-file", self.config, "--data-root", self.data_root,
             "--exec-root", self.run_dir, "--pidfile", os.path.join(base_dir, "docker.pid"),
             "-H", self.host],
            os.path.join(base_dir, "docker.pid"), self._ready,
            os.path.join(base_dir, "dockerd.log"))

    def write_config(self):
        os.makedirs(self.base_dir, exist_ok=True)
        os.makedirs(self.env["DOCKER_CONFIG"], exist_ok=True)
        if not os.path.exists(self.config):
            with open(self.config, "w") as f:
                json.dump({"bridge": "none", "iptables": False, "ip6tables": False,
                           "cgroup-parent": self.cgroup_parent}, f)
        runtimes = self.runtimes
        if runtimes is None:
            runtimes = {RUNTIME: RUNC}
            if os.access("/usr/bin/crun", os.X_OK):
                runtimes["crun"] = "/usr/bin/crun"
        # The same code path a user's /etc/docker/daemon.json goes through (keys kept).
        for name, path in runtimes.items():
            register_runtime.register_docker(self.config, name, path)

    def _ready(self):
        return os.path.exists(self.sock) and run(
            [DOCKER, "version", "--format", "{{.Server.Version}}"], env=self.env,
            timeout=10).rc == 0

    def start(self):
        ensure_mgr(self.base_dir)
        self.env["SYSVISOR_MGR_SOCKET"] = MGR.sock
        self.env["SYSVISOR_FS_SOCKET"] = FS.sock
        self.write_config()
        self.daemon.start()
        _runtime_roots.append(self.runtime_root)

    def stop(self):
        self.daemon.stop()

    def docker(self, *args, timeout=DEFAULT_TIMEOUT, input=None, check=False):
        return run([DOCKER, *args], timeout=timeout, input=input, env=self.env, check=check)

    def image_exists(self, ref):
        return self.docker("image", "inspect", ref, timeout=30).rc == 0

    def ensure_busybox_image(self):
        stamp = _busybox_stamp()
        r = self.docker("image", "inspect", "--format", "{{index .Config.Labels \"sve2e.stamp\"}}",
                        BUSYBOX_IMAGE, timeout=30)
        if r.rc == 0 and r.out.strip() == stamp:
            return BUSYBOX_IMAGE
        with busybox_tarball() as tar:
            self.docker("import", "--change", f"LABEL sve2e.stamp={stamp}", "--change",
                        'CMD ["/bin/sh"]', tar, BUSYBOX_IMAGE, check=True, timeout=120)
        return BUSYBOX_IMAGE

    def ensure_debian_image(self):
        if self.image_exists(DEBIAN_IMAGE):
            return DEBIAN_IMAGE
        tar = debian_rootfs_tar()
        self.docker("import", "--change", 'CMD ["/bin/bash"]', tar, DEBIAN_IMAGE, check=True,
                    timeout=600)
        return DEBIAN_IMAGE

    def ensure_dind_image(self):
        """Debian with Debian's docker.io, for Docker inside a system container."""
        if self.image_exists(DIND_IMAGE):
            return DIND_IMAGE
        tar = debian_rootfs_tar("dind", ("procps", "docker.io"))
        self.docker("import", "--change", 'CMD ["/bin/bash"]', tar, DIND_IMAGE, check=True,
                    timeout=600)
        return DIND_IMAGE

    def ensure_systemd_image(self):
        """Debian booting systemd, with dbus, docker.io, openssh-server and cron; like a
        typical systemd image it sets no STOPSIGNAL."""
        if self.image_exists(SYSTEMD_IMAGE):
            return SYSTEMD_IMAGE
        tar = debian_rootfs_tar(SYSTEMD_FLAVOUR, SYSTEMD_PACKAGES)
        self.docker("import", "--change", 'CMD ["/sbin/init"]', tar, SYSTEMD_IMAGE, check=True,
                    timeout=600)
        return SYSTEMD_IMAGE

    def containers(self):
        r = self.docker("ps", "-aq", "--no-trunc", "--filter", f"name={PREFIX}", timeout=30)
        return r.out.split()


# --------------------------------------------------------------------------------------------
# Images

BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "tty", "stty",
                   "ps", "mkdir", "touch", "kill", "hostname", "pwd", "env", "grep", "head",
                   "dd", "rm", "seq", "wc", "yes", "trap", "top", "date", "uname", "mount",
                   "timeout", "stat", "ln", "printf", "awk", "sed", "cut", "tail", "readlink",
                   "test", "chmod", "nproc", "whoami", "df", "uptime", "sysctl", "free"]


def _busybox_stamp():
    parts = []
    for p in ("/bin/busybox", PROBE):
        st = os.stat(p)
        parts.append(f"{st.st_size}.{st.st_mtime_ns}")
    return "v2-" + "-".join(parts)


def build_busybox_tree(dest):
    for d in ("bin", "etc", "proc", "sys", "dev", "root", "tmp", "home/user", "var/log"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2("/bin/busybox", os.path.join(dest, "bin", "busybox"))
    for a in BUSYBOX_APPLETS:
        os.symlink("busybox", os.path.join(dest, "bin", a))
    shutil.copy2(PROBE, os.path.join(dest, "probe"))
    os.chmod(os.path.join(dest, "probe"), 0o755)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")
    os.chown(os.path.join(dest, "home", "user"), 1000, 1000)


@contextlib.contextmanager
def busybox_tarball():
    """The busybox+probe tree as a tarball in a temp dir, removed afterwards."""
    tree = tempfile.mkdtemp(prefix="sve2e-bb-")
    try:
        build_busybox_tree(os.path.join(tree, "root"))
        tar = os.path.join(tree, "rootfs.tar")
        run(["tar", "-C", os.path.join(tree, "root"), "-cf", tar, "."], check=True, timeout=120)
        yield tar
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def debian_rootfs_tar(flavour="procps", include=("procps",)):
    """A minbase Debian tree (plus `include`: procps's `free`, `uptime`, `sysctl` read the
    emulated /proc) as a tarball, made once with debootstrap and kept in CACHE_DIR."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    tar = os.path.join(CACHE_DIR, f"debian-{DEBIAN_SUITE}-minbase-{flavour}.tar")
    if os.path.exists(tar):
        return tar
    tree = tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE_DIR)
    try:
        r = run(["debootstrap", "--variant=minbase", "--include=" + ",".join(include),
                 DEBIAN_SUITE, tree, DEBIAN_MIRROR], timeout=1800)
        if r.rc != 0:
            raise RuntimeError(f"debootstrap failed (is {DEBIAN_MIRROR} reachable?): {r!r}")
        # No apt caches or lists in the image: smaller, and nothing host-specific.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for name in os.listdir(os.path.join(tree, sub)):
                p = os.path.join(tree, sub, name)
                if os.path.isfile(p):
                    os.unlink(p)
        run(["tar", "--numeric-owner", "-C", tree, "-cf", tar + ".part", "."], check=True,
            timeout=600)
        os.replace(tar + ".part", tar)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return tar


# --------------------------------------------------------------------------------------------
# containerd and Podman


class ContainerdEnv:
    """A private containerd (own root, state, socket; CRI off). Images come from the private
    dockerd (`docker save | ctr images import`)."""

    NAMESPACE = "sve2e"

    def __init__(self):
        self.sock = os.path.join(RUN_DIR, "containerd.sock")
        self.config = os.path.join(RUN_DIR, "containerd.toml")
        self.state = os.path.join(RUN_DIR, "containerd")
        self.root = os.path.join(DATA_DIR, "containerd")
        self.daemon = Daemon("containerd", [CONTAINERD, "--config", self.config],
                             os.path.join(RUN_DIR, "containerd.pid"), self._ready,
                             os.path.join(RUN_DIR, "containerd.log"))

    def write_config(self):
        os.makedirs(RUN_DIR, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(CONTAINERD_CONFIG.format(root=self.root, state=self.state, sock=self.sock,
                                             runc=RUNC))

    def _ready(self):
        return os.path.exists(self.sock) and self.ctr("version", timeout=10).rc == 0

    def start(self):
        ensure_mgr()
        self.write_config()
        self.daemon.start()
        _runtime_roots.append(self.runtime_root())

    def stop(self):
        self.daemon.stop()

    def ctr(self, *args, timeout=DEFAULT_TIMEOUT, input=None):
        return run([CTR, "--address", self.sock, "--namespace", self.NAMESPACE, *args],
                   timeout=timeout, input=input)

    def import_from_docker(self, docker_env, image):
        ref = f"docker.io/library/{image}"
        if self.ctr("images", "check", f"name=={ref}").out.count(ref):
            return ref
        tar = os.path.join(tempfile.mkdtemp(prefix="sve2e-img-"), "image.tar")
        try:
            docker_env.docker("save", "-o", tar, image, check=True, timeout=300)
            r = self.ctr("images", "import", tar, timeout=300)
            if r.rc != 0:
                raise RuntimeError(f"ctr images import failed: {r!r}")
        finally:
            shutil.rmtree(os.path.dirname(tar), ignore_errors=True)
        return ref

    def runtime_root(self):
        """Where the runc shim points sysvisor-runc's --root for this namespace."""
        return os.path.join("/run/containerd/runc", self.NAMESPACE)


# How a user points containerd's runc shim at sysvisor-runc (docs/containerd.md shows the same
# runtime entry): the CRI plugin's runtime "sysvisor" with BinaryName, used by Kubernetes
# through a RuntimeClass whose handler is "sysvisor". The tests run `ctr` with the same shim.
CONTAINERD_CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "{sock}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sysvisor]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sysvisor.options]
    BinaryName = "{runc}"
"""


class Podman:
    """Podman with its own storage and run dirs, cgroupfs (no systemd on the host) and
    sysvisor-runc as its OCI runtime."""

    def __init__(self):
        ensure_mgr()
        self.root = os.path.join(DATA_DIR, "podman")
        self.runroot = os.path.join(RUN_DIR, "podman")
        self.tmpdir = os.path.join(RUN_DIR, "podman-tmp")

    def podman(self, *args, timeout=DEFAULT_TIMEOUT, runtime=None):
        os.makedirs(self.tmpdir, exist_ok=True)
        # conmon starts the runtime with a clean environment: the sockets go as flags.
        flags = []
        if runtime is None:
            flags = daemon_flags()
        return run([PODMAN, "--root", self.root, "--runroot", self.runroot, "--tmpdir",
                    self.tmpdir, "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                    "--runtime", runtime or RUNC, *flags, *args], timeout=timeout)

    def ensure_busybox_image(self):
        ref = "localhost/" + BUSYBOX_IMAGE
        stamp = _busybox_stamp()
        r = self.podman("image", "inspect", "--format", "{{index .Labels \"sve2e.stamp\"}}", ref)
        if r.rc == 0 and r.out.strip() == stamp:
            return ref
        with busybox_tarball() as tar:
            r = self.podman("import", "--change", f"LABEL sve2e.stamp={stamp}", "--change",
                            'CMD ["/bin/sh"]', tar, ref, timeout=120)
        if r.rc != 0:
            raise RuntimeError(f"podman import failed: {r!r}")
        return ref

    def containers(self):
        r = self.podman("ps", "-aq", "--filter", f"name={PREFIX}")
        return r.out.split()


# --------------------------------------------------------------------------------------------
# What is left behind


def our_mounts(needles):
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if any(n in mp for n in needles):
                found.append(mp)
    return found


def our_cgroups():
    """Container cgroups left under the e2e cgroup parents, in every hierarchy (Podman's
    parent and its conmon cgroup are parents, not containers)."""
    found = []
    base = "/sys/fs/cgroup"
    parents = {CGROUP_PARENT, PODMAN_CGROUP_PARENT.strip("/"),
               PODMAN_CGROUP_PARENT.strip("/") + "/conmon"}
    for ctrl in sorted(os.listdir(base)):
        for parent in parents:
            d = os.path.join(base, ctrl, parent)
            if os.path.isdir(d):
                found += [p for p in (os.path.join(d, c) for c in os.listdir(d))
                          if os.path.isdir(p) and os.path.relpath(p, os.path.join(base, ctrl))
                          not in parents]
    return found


def remove_cgroup_parents():
    """rmdir the (then empty) parents the daemons made, leaf first; a non-empty one stays and
    is reported by our_cgroups."""
    base = "/sys/fs/cgroup"
    for ctrl in sorted(os.listdir(base)):
        for parent in (PODMAN_CGROUP_PARENT.strip("/") + "/conmon",
                       PODMAN_CGROUP_PARENT.strip("/"), CGROUP_PARENT):
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(base, ctrl, parent))


def runtime_state(root):
    """Container ids sysvisor-runc still has state for under root (a --root dir, or dockerd's
    exec root: then every runtime-*/moby dir in it)."""
    if not os.path.isdir(root):
        return []
    shims = sorted(e for e in os.listdir(root) if e.startswith("runtime-"))
    if shims:
        return [c for e in shims for c in runtime_state(os.path.join(root, e, "moby"))]
    r = run([RUNC, "--root", root, "list", "-q"], timeout=30)
    return r.out.split() if r.rc == 0 else [f"(list failed: {r.err.strip()})"]


def processes_with(needle):
    hits = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd and int(name) != os.getpid():
            hits.append(f"{name}: {cmd.strip()}")
    return hits


# --------------------------------------------------------------------------------------------
# Test base


class DockerTest(unittest.TestCase):
    """Tests through the private dockerd. Containers are named sve2e-<test>-<n>; tearDown
    removes them and fails the test if one of ours is left or sysvisor-runc still has state."""

    env = None

    @classmethod
    def setUpClass(cls):
        if DockerTest.env is None:
            DockerTest.env = DockerEnv()
            DockerTest.env.start()
            _cleanup_stack.append(DockerTest.env.stop)
        cls.image = DockerTest.env.ensure_busybox_image()

    def setUp(self):
        self.names = []
        self.tmp = tempfile.mkdtemp(prefix="sve2e-")

    def name(self, tag="c"):
        n = f"{PREFIX}{self._testMethodName[5:][:30]}-{tag}-{len(self.names)}".replace("_", "-")
        self.names.append(n)
        return n

    def docker(self, *args, **kw):
        return self.env.docker(*args, **kw)

    def docker_ok(self, *args, **kw):
        r = self.docker(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def run_args(self, *extra, image=None, runtime=RUNTIME):
        return ["run", "--runtime", runtime, "--network", "none", *extra]

    def docker_run(self, *args, image=None, runtime=RUNTIME, name=None, **kw):
        """docker run --rm ... <image> args (args split at the image with a '--' marker: flags
        before it, command after)."""
        flags, cmd = _split(args)
        name = name or self.name()
        return self.docker("run", "--rm", "--name", name, "--runtime", runtime,
                           "--network", "none", *flags, image or self.image, *cmd, **kw)

    def docker_run_d(self, *args, image=None, runtime=RUNTIME, **kw):
        flags, cmd = _split(args)
        name = self.name()
        r = self.docker("run", "-d", "--name", name, "--runtime", runtime, "--network", "none",
                        *flags, image or self.image, *cmd, **kw)
        self.assertEqual(r.rc, 0, r)
        return name

    def inspect(self, name, fmt):
        return self.docker_ok("inspect", "--format", fmt, name).out.strip()

    def logs(self, name):
        r = self.docker("logs", name)
        return r.out + r.err

    def tearDown(self):
        problems = []
        for n in self.names:
            r = self.docker("rm", "-f", n, timeout=60)
            if r.rc != 0 and "No such container" not in r.err:
                problems.append(f"docker rm -f {n}: {r.err.strip()}")
        left = [n for n in self.env.containers() if n]
        if left:
            problems.append(f"containers left: {left}")
        try:
            wait_for(lambda: not runtime_state(self.env.runtime_root), 10,
                     "sysvisor-runc state to go")
        except AssertionError:
            problems.append(f"runtime state left: {runtime_state(self.env.runtime_root)}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            self.fail("leftovers:\n  " + "\n  ".join(problems))


class SystemdMixin:
    """For DockerTests of containers booting e2e's systemd image."""

    def boot(self, *flags):
        image = self.env.ensure_systemd_image()
        return self.docker_run_d(*flags, "--", image=image)

    def wait_running(self, name, timeout=120):
        """`systemctl is-system-running --wait` until systemd answers (its bus appears a moment
        after the start: until then systemctl says nothing, or `offline`); fails with the failed
        units if the answer is not `running`."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.docker("exec", name, "systemctl", "is-system-running", "--wait",
                            timeout=timeout)
            state = r.out.strip()
            if state and state != "offline":
                break
            if time.monotonic() > deadline:
                self.fail(f"systemd in {name} never answered: {r!r}\n{self.logs(name)[-3000:]}")
            time.sleep(0.2)
        if state != "running":
            failed = self.docker("exec", name, "systemctl", "--failed", "--no-legend")
            self.fail(f"{name} is {state!r}, failed units:\n{failed.out}\n"
                      f"console:\n{self.logs(name)[-3000:]}")

    def exec_ok(self, name, *cmd, **kw):
        return self.docker_ok("exec", name, *cmd, **kw).out


def _split(args):
    if "--" in args:
        i = args.index("--")
        return list(args[:i]), list(args[i + 1:])
    return [], list(args)


_cleanup_stack = []
_reused = []          # daemons found running (another run's): their processes are not ours
_runtime_roots = []   # sysvisor-runc --root dirs the clients used


def final_checks():
    """After the daemons stopped: nothing of ours may be left on the host."""
    problems = []
    try:
        wait_for(lambda: not our_cgroups(), 10, "cgroups to go")
    except AssertionError:
        problems.append(f"cgroups left: {our_cgroups()}")
    if not _reused:
        remove_cgroup_parents()
    mounts = our_mounts([os.path.join(DATA_DIR, "docker", "overlay2"),
                         os.path.join(RUN_DIR, "docker", "containerd")])
    if mounts:
        problems.append(f"mounts left: {mounts}")
    procs = processes_with(RUN_DIR)
    if procs and not _reused:
        problems.append(f"processes left: {procs}")
    for root in _runtime_roots:
        state = runtime_state(root)
        if state:
            problems.append(f"runtime state left in {root}: {state}")
    if MGR is not None:
        # Every container is gone, so every range must be free again (mgr frees a range once
        # the container's rootfs is gone).
        if MGR.left is None:
            problems.append("sysvisor-mgr did not answer before it was stopped")
        elif MGR.left:
            problems.append(f"id ranges left in sysvisor-mgr: {MGR.left}")
    if FS is not None:
        if FS.left is None:
            problems.append("sysvisor-fs did not answer before it was stopped")
        elif FS.left:
            problems.append(f"containers left registered in sysvisor-fs: {FS.left}")
    return problems


def main():
    """unittest main + stop the daemons this process started + host leak check."""
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    res = prog.result
    while _cleanup_stack:
        fn = _cleanup_stack.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up
            print(f"cleanup failed: {e}", file=sys.stderr)
    problems = final_checks()
    name = os.path.basename(sys.argv[0])
    print(f"\n== {name}: ran {res.testsRun}, failures {len(res.failures)}, "
          f"errors {len(res.errors)}, skipped {len(res.skipped)}")
    for test, reason in res.skipped:
        print(f"   skipped {test.id()}: {reason}")
    for p in problems:
        print(f"   LEFT BEHIND: {p}")
    ok = res.wasSuccessful() and not res.skipped and not problems
    sys.exit(0 if ok else 1)
