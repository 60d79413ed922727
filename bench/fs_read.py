#!/usr/bin/env python3
"""Read cost of sysvisor-fs's emulated files against lxcfs, the real /proc and a bare FUSE floor.

One run measures, per file (/proc/meminfo, uptime, cpuinfo, stat, loadavg and the /proc/sys
files kernel/panic and net/ipv4/ip_forward), through four sources:

  sysvisor-fs  a private `sysvisor fs` daemon (--sysvisor), the file in a registered
               container's subtree <mnt>/<id>/proc/...
  lxcfs        a private `lxcfs -f -l` (Debian's package; loadavg virtualized like ours) on its
               own mount point, <mnt>/proc/...; it has no /proc/sys (n/a)
  /proc        the kernel's file
  floor        bench/fuse_floor.c: a minimal libfuse3 low-level fs set up like sysvisor-fs
               (multi-threaded, clone_fd, 8 workers, direct_io, 1 s entry/attr cache) serving a
               copy of sysvisor-fs's text of the same file: the FUSE round trips alone

  latency      open + read to EOF + close, per op: mean, p50, p90, p99 over --iterations
               (bench/fs_readloop.c, so no interpreter time is counted), taken in --rounds
               rounds, each run after its share of --warmup untimed ops; the sources run in an
               order rotated per file and per round, so drift hits them alike
  2 readers    two reader processes on the same file at once, total ops/s; --seconds per
               file and source, spread over the same rounds
  split        the same ops with open, the reads and close timed apart (one run, fewer ops)
  RSS          VmRSS and VmHWM of the sysvisor-fs daemon with --containers containers (`sleep`
               processes) registered, each one's meminfo and uptime read once

The reader runs as a container process would: inside the user (root mapped to root), pid, net,
uts and ipc namespaces of a "container" (`unshare ... sleep`) that is registered with
sysvisor-fs, and in its cgroup (a bench cgroup with a 1 GiB memory limit), so lxcfs, which
finds a reader's container from the init of its pid namespace, renders for the same cgroup as
sysvisor-fs, and the namespaced /proc/sys knob (ip_forward) is the container's own.

The bench re-executes itself in a private mount namespace: its three FUSE mounts are never
visible to the host, and neither the host's lxcfs nor its sysvisor-fs is touched. Every daemon,
process, mount, cgroup and temp dir it makes is removed on every exit (Ctrl-C and SIGTERM
included). It is not a test: the issue's targets are printed next to the figures, never
asserted. Needs root.
"""

import argparse
import array
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

INNER_ENV = "SVFSB_INNER"
NAME_PREFIX = "svfsb-"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
READLOOP_SRC = os.path.join(BENCH_DIR, "fs_readloop.c")
FLOOR_SRC = os.path.join(BENCH_DIR, "fuse_floor.c")
MEMORY_LIMIT = 1 << 30
# (label, path in the container's view, lxcfs serves it)
FILES = (
    ("meminfo", "/proc/meminfo", True),
    ("uptime", "/proc/uptime", True),
    ("cpuinfo", "/proc/cpuinfo", True),
    ("stat", "/proc/stat", True),
    ("loadavg", "/proc/loadavg", True),
    ("sys/kernel/panic", "/proc/sys/kernel/panic", False),
    ("sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward", False),
)
SOURCES = ("sysvisor-fs", "lxcfs", "/proc", "floor")
# The targets, printed, never asserted.
TARGET_LXCFS = 0.6        # every file: sysvisor-fs / lxcfs
TARGET_FLOOR_SYS = 2.0    # /proc/sys files: sysvisor-fs / bare FUSE floor
TARGET_RSS_MIB = 20.0     # daemon VmRSS (and VmHWM) with 100 containers

sys.dont_write_bytecode = True  # no __pycache__ left in bench/
sys.path.insert(0, BENCH_DIR)
import lifecycle  # noqa: E402
from lifecycle import BenchError  # noqa: E402


# --- small helpers --------------------------------------------------------------------------

def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run(argv, check=True, timeout=60, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {r.returncode}: "
                         f"{(r.stderr or r.stdout).strip() or '(no output)'}")
    return r


def mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def wait_for(what, ok, proc, log, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited {proc.returncode}: {tail(log)}")
        if ok():
            return
        time.sleep(0.02)
    raise BenchError(f"{what} not ready after {timeout:.0f}s: {tail(log)}")


def tail(path, lines=5):
    try:
        return " | ".join(read(path).strip().splitlines()[-lines:]) or "(empty log)"
    except OSError:
        return "(no log)"


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Signals proc (a Popen) and reaps it, SIGKILL after timeout; True if it exited by itself."""
    if proc is None or proc.poll() is not None:
        return True
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def lazy_umount(path):
    if path in mount_points():
        subprocess.run(["umount", "-l", path], capture_output=True)
        return True
    return False


def proc_status(pid):
    """VmRSS, VmHWM (KiB) and Threads of a live pid, or None."""
    try:
        text = read(f"/proc/{pid}/status")
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def mib(kib):
    return kib / 1024.0


def child_pid(pid, timeout=5.0):
    """The first child of pid (unshare --fork's), waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = read(f"/proc/{pid}/task/{pid}/children").split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.005)
    raise BenchError(f"process {pid} did not start its child")


# --- setup ----------------------------------------------------------------------------------

def resolve_sysvisor(path):
    binary = path if os.path.isabs(path) else next(
        (p for p in (os.path.abspath(path), os.path.join(REPO_ROOT, path)) if os.path.exists(p)),
        os.path.abspath(path))
    if not os.access(binary, os.X_OK):
        raise BenchError(f"sysvisor binary '{binary}' not found: build it (bash scripts/build.sh) "
                         "or pass --sysvisor PATH")
    return binary


def ensure_lxcfs(progress):
    found = shutil.which("lxcfs")
    if found:
        return found
    progress("lxcfs not found: apt-get install -y lxcfs (Debian's package; on a systemd host "
             "it also enables lxcfs.service, which this bench leaves alone)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for attempt in range(2):
        r = subprocess.run(["apt-get", "install", "-y", "lxcfs"], capture_output=True, text=True,
                           env=env, timeout=600)
        if r.returncode == 0 and shutil.which("lxcfs"):
            return shutil.which("lxcfs")
        if attempt == 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=600)
    raise BenchError("lxcfs is missing and `apt-get install -y lxcfs` failed: "
                     f"{r.stderr.strip()[-300:]} (or pass --no-lxcfs)")


def build_tools(workdir):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise BenchError("no C compiler: apt-get install -y gcc")
    readloop = os.path.join(workdir, "fs_readloop")
    run([cc, "-O2", "-Wall", "-o", readloop, READLOOP_SRC])
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                           text=True)
    if flags.returncode != 0:
        raise BenchError("pkg-config finds no fuse3: apt-get install -y libfuse3-dev pkg-config")
    floor = os.path.join(workdir, "fuse_floor")
    run([cc, "-O2", "-Wall", "-o", floor, FLOOR_SRC, *flags.stdout.split()])
    version = run(["pkg-config", "--modversion", "fuse3"]).stdout.strip()
    return readloop, floor, version


class BenchCgroup:
    """The container's cgroup: a child of the bench's own cgroup in every v1 hierarchy, and of
    the root in cgroup2 (where controllers are enabled); memory limited to 1 GiB so lxcfs and
    sysvisor-fs both have a limit to render."""

    def __init__(self, name):
        self.name = name
        self.dirs = []

    def create(self):
        own = dict(line.split(":", 2)[1:] for line in read("/proc/self/cgroup").splitlines())
        with open("/proc/self/mountinfo") as f:
            mounts = [(x[3], x[4], x[x.index("-") + 1], set(x[-1].split(",")))
                      for x in map(str.split, f)]
        for root, point, fstype, opts in mounts:
            # A v1 mount's super options name its controllers as /proc/self/cgroup does.
            key = next((k for k in own if k and set(k.split(",")) <= opts), None)
            if root != "/" or fstype not in ("cgroup", "cgroup2") or (
                    fstype == "cgroup" and key is None):
                continue
            parent = point if fstype == "cgroup2" else point + own[key].rstrip("/")
            d = os.path.join(parent, self.name)
            try:
                os.mkdir(d)
            except FileExistsError:  # the same hierarchy mounted twice
                continue
            self.dirs.append(d)
            # A new v1 cpuset has no cpus and mems (no task may join it) until given some.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                mine = os.path.join(d, knob)
                if fstype == "cgroup" and os.path.exists(mine) and not read(mine).strip():
                    write(mine, read(os.path.join(parent, knob)).strip())
            for knob in ("memory.limit_in_bytes", "memory.max"):
                if os.path.exists(os.path.join(d, knob)):
                    write(os.path.join(d, knob), str(MEMORY_LIMIT))
        if not self.dirs:
            raise BenchError("no cgroup hierarchy found to place the container in")

    def join(self):
        """preexec_fn: moves the forked child (not the bench) into every directory."""
        pid = str(os.getpid())
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(pid)

    def remove(self):
        """Kills what is left in the directories (only the bench's processes) and removes them;
        returns those it could not remove."""
        for d in reversed(self.dirs):
            for _ in range(100):
                try:
                    for pid in read(os.path.join(d, "cgroup.procs")).split():
                        os.kill(int(pid), signal.SIGKILL)
                    os.rmdir(d)
                    break
                except (FileNotFoundError, ProcessLookupError):
                    if not os.path.isdir(d):
                        break
                except OSError:  # EBUSY until the killed tasks are gone
                    time.sleep(0.05)
        left = [d for d in self.dirs if os.path.isdir(d)]
        self.dirs = []
        return left


class SysvisorFs:
    """A private `sysvisor fs` daemon, run like test/integration/test_fs.py's Fs."""

    def __init__(self, binary, d):
        self.bin = binary
        self.mnt = os.path.join(d, "sysvisorfs")
        self.sock = os.path.join(d, "fs.sock")
        self.run_dir = os.path.join(d, "fs-run")
        self.log = os.path.join(d, "fs.log")
        self.err = os.path.join(d, "fs.stderr")
        self.proc = None
        self.ids = set()

    def start(self, threads):
        os.makedirs(self.mnt)
        with open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [self.bin, "fs", "--mountpoint", self.mnt, "--socket", self.sock, "--run-dir",
                 self.run_dir, "--log", self.log, "--threads", str(threads)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True)
        wait_for("sysvisor fs", lambda: os.path.exists(self.sock) and self.cli(
            "status", check=False).returncode == 0, self.proc, self.err)

    def cli(self, *args, check=True):
        return run([self.bin, "fs", *args, "--socket", self.sock], check=check, timeout=30)

    def register(self, cid, pid):
        self.ids.add(cid)
        out = self.cli("register", "--uid-base", "0", cid, str(pid)).stdout.split()
        return out[0]

    def unregister(self, cid):
        self.cli("unregister", cid, check=False)
        self.ids.discard(cid)

    def status(self):
        return proc_status(self.proc.pid) if self.proc else None

    def holder_pid(self):
        try:
            return int(read(os.path.join(self.run_dir, "fs", "holder.pid")).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """Unregisters everything (then SIGTERM unmounts); anything left is forced."""
        if self.proc is None:
            return []
        notes = []
        alive = self.proc.poll() is None
        for cid in sorted(self.ids):
            if alive:
                self.unregister(cid)
        holder = self.holder_pid()
        if not stop_process(self.proc):
            notes.append("sysvisor fs needed SIGKILL")
        if holder and self.mnt in mount_points():
            # Containers still registered: the daemon left the connection to its fd holder.
            try:
                os.kill(holder, signal.SIGKILL)
                notes.append(f"killed the fd holder {holder}")
            except ProcessLookupError:
                pass
        if lazy_umount(self.mnt):
            notes.append(f"lazily unmounted {self.mnt}")
        self.proc = None
        return notes


class FuseChild:
    """lxcfs or the floor: a FUSE daemon in the foreground, our child."""

    def __init__(self, name, argv, mnt, log, probe):
        self.name, self.argv, self.mnt, self.log, self.probe = name, argv, mnt, log, probe
        self.proc = None

    def start(self):
        os.makedirs(self.mnt, exist_ok=True)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.name, lambda: self.mnt in mount_points() and os.path.exists(
            os.path.join(self.mnt, self.probe)), self.proc, self.log)

    def status(self):
        return proc_status(self.proc.pid) if self.proc else None

    def stop(self):
        if self.proc is None:
            return []
        notes = [] if stop_process(self.proc) else [f"{self.name} needed SIGKILL"]
        if lazy_umount(self.mnt):
            notes.append(f"lazily unmounted {self.mnt}")
        self.proc = None
        return notes


class Container:
    """`sleep` as the init of new user (root mapped to root), pid, net, uts and ipc namespaces,
    in the bench cgroup; unshare --kill-child takes the namespace down with it."""

    def __init__(self, cgroup):
        self.proc = subprocess.Popen(
            ["unshare", "-U", "-r", "-p", "-n", "-u", "-i", "--fork", "--kill-child",
             "sleep", "86400"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=cgroup.join)
        self.pid = child_pid(self.proc.pid)

    def enter(self):
        return ["nsenter", "-t", str(self.pid), "-U", "-p", "-n", "-u", "-i", "--"]

    def stop(self):
        stop_process(self.proc, signal.SIGKILL)


# --- measurement ----------------------------------------------------------------------------

class Reader:
    """Runs fs_readloop inside the container's namespaces and cgroup; parses its key=value
    line. A daemon that dies mid-run would leave the reader blocked in FUSE (sysvisor-fs's fd
    holder keeps the connection for a successor), so `dead()` is polled meanwhile."""

    def __init__(self, readloop, container, cgroup, dead):
        self.readloop, self.container, self.cgroup, self.dead = readloop, container, cgroup, dead

    def __call__(self, *args, timeout=600):
        what = f"`fs_readloop {' '.join(map(str, args))}`"
        proc = subprocess.Popen([*self.container.enter(), self.readloop, *map(str, args)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=self.cgroup.join,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    if self.dead():
                        raise BenchError(f"{self.dead()} died during {what}")
                    if time.monotonic() > deadline:
                        raise BenchError(f"{what} did not finish within {timeout}s")
        finally:
            if proc.poll() is None:  # nsenter, the reader and its forks: one process group
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.returncode != 0:
            raise BenchError(f"{what} exited {proc.returncode}: {err.strip() or '(no stderr)'}")
        return {k: float(v) for k, _, v in (pair.partition("=") for pair in out.split())}


def measure_rss(fs, count, cgroup, progress):
    """Registers `count` sleep processes, reads each one's meminfo and uptime once, reads the
    daemon's VmRSS/VmHWM, then unregisters and kills them all."""
    sleeps, result = [], {"fresh": fs.status()}
    try:
        ids = []
        for i in range(count):
            p = subprocess.Popen(["sleep", "86400"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, start_new_session=True,
                                 preexec_fn=cgroup.join)
            sleeps.append(p)
            cid = f"{NAME_PREFIX}{os.getpid()}-rss{i}"
            root = fs.register(cid, p.pid)
            ids.append(cid)
            for f in ("/proc/meminfo", "/proc/uptime"):
                read(root + f)
        result["loaded"] = fs.status()
        result["count"] = count
        progress(f"rss: {count} containers registered and read")
        for cid in ids:
            fs.unregister(cid)
        result["after_unregister"] = fs.status()
    finally:
        for p in sleeps:
            stop_process(p, signal.SIGKILL)
    return result


def stats(samples):
    v = sorted(samples)
    n = len(v)

    def rank(p):  # nearest rank, as fs_readloop computes it
        return v[max(0, min(n - 1, math.ceil(p / 100 * n) - 1))]
    return {"n": n, "mean": sum(v) / n, "p50": rank(50), "p90": rank(90), "p99": rank(99),
            "min": v[0], "max": v[-1]}


def rotations(files, paths, offset):
    """(label, source, path) in file order, sources rotated by file index + offset."""
    for i, (label, _, _) in enumerate(files):
        k = (i + offset) % len(SOURCES)
        for src in SOURCES[k:] + SOURCES[:k]:
            if paths[label].get(src):
                yield label, src, paths[label][src]


def measure(files, paths, reader, args, workdir, progress):
    """Latency and 2-reader throughput in --rounds rounds (drift hits every source alike), the
    split once."""
    raw = os.path.join(workdir, "samples")
    per_run = math.ceil(args.iterations / args.rounds)
    warm = max(args.warmup // args.rounds, 1) if args.warmup else 0
    samples, nbytes, rates, round_p50 = {}, {}, {}, {}
    for r in range(args.rounds):
        for label, src, path in rotations(files, paths, r):
            res = reader("lat", path, per_run, warm, raw)
            run_samples = array.array("q")
            with open(raw, "rb") as f:
                run_samples.frombytes(f.read())
            samples.setdefault((label, src), array.array("q")).extend(run_samples)
            round_p50.setdefault((label, src), []).append(stats(run_samples)["p50"])
            nbytes[(label, src)] = res["bytes"]
        for label, src, path in rotations(files, paths, r):
            res = reader("tput", path, args.seconds / args.rounds, 2)
            rates.setdefault((label, src), []).append(res["ops_per_s"])
        progress(f"round {r + 1}/{args.rounds} done")
    lat = {k: dict(stats(v), bytes=nbytes[k], round_p50=round_p50[k])
           for k, v in samples.items()}
    tput = {k: {"ops_per_s": sum(v) / len(v), "runs": v} for k, v in rates.items()}
    for label, _, _ in files:
        progress(f"{label}: p50 " + ", ".join(
            f"{s} {lat[(label, s)]['p50'] / 1000:.1f}" for s in SOURCES if (label, s) in lat)
            + " µs; 2 readers " + ", ".join(
            f"{s} {tput[(label, s)]['ops_per_s']:.0f}" for s in SOURCES if (label, s) in tput)
            + " ops/s")
    split = {(label, src): reader("split", path, args.split_iterations, warm)
             for label, src, path in rotations(files, paths, 0)}
    progress("split runs done")
    return lat, split, tput


# --- report ---------------------------------------------------------------------------------

def us(ns):
    return ns / 1000.0


def verdict(value, target):
    return f"{'met' if value <= target else 'NOT met'} ({value:.3f})"


def ratios(files, lat, tput):
    """Per file: sysvisor-fs / lxcfs, / floor and / /proc of the mean, p50, p99, the median over
    rounds of the p50 ratio within a round, and the 2-reader time per op."""
    out = {}
    for label, _, _ in files:
        row = {}
        for other in ("lxcfs", "floor", "/proc"):
            a, b = lat.get((label, "sysvisor-fs")), lat.get((label, other))
            ta, tb = tput.get((label, "sysvisor-fs")), tput.get((label, other))
            if a and b:
                per_round = [x / y for x, y in zip(a["round_p50"], b["round_p50"])]
                row[other] = {"mean": a["mean"] / b["mean"], "p50": a["p50"] / b["p50"],
                              "p99": a["p99"] / b["p99"],
                              "round_p50": statistics.median(per_round),
                              "2readers": tb["ops_per_s"] / ta["ops_per_s"] if ta and tb
                              else None}
        out[label] = row
    return out


def print_header(meta, args):
    load = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    print(f"\nopen + read to EOF + close of one file: {args.rounds} rounds of "
          f"{math.ceil(args.iterations / args.rounds)} ops per file and source, each after "
          f"{args.warmup // args.rounds} untimed ones; 2 readers: {args.rounds} x "
          f"{args.seconds / args.rounds:.2f} s; sources in an order rotated per file and round")
    print(f"  reader inside a container's user/pid/net/uts/ipc namespaces and cgroup (memory "
          f"limit {MEMORY_LIMIT >> 20} MiB)")
    for line in meta["sources"]:
        print(f"  {line}")
    print(f"  kernel {meta['kernel']}, {meta['cpus']} CPUs; load average (1/5/15 min) at start "
          f"{load(meta['loadavg_start'])}, at end {load(meta['loadavg_end'])}\n")


def print_tables(files, lat, split, tput):
    print(f"{'file':<24}{'source':<13}{'mean':>8}{'p50':>8}{'p90':>8}{'p99':>8}"
          f"{'2 readers':>12}{'bytes':>8}\n{'':<37}{'µs':>8}{'µs':>8}{'µs':>8}{'µs':>8}"
          f"{'ops/s':>12}")
    for label, _, _ in files:
        for i, src in enumerate(SOURCES):
            s, t = lat.get((label, src)), tput.get((label, src))
            head = f"{label if i == 0 else '':<24}{src:<13}"
            print(head + (f"{'n/a':>8}" if s is None else "".join(
                f"{us(s[k]):>8.1f}" for k in ("mean", "p50", "p90", "p99"))
                + f"{t['ops_per_s']:>12.0f}{int(s['bytes']):>8}"))
    print(f"\nwhere the time goes: {next(iter(split.values()))['n']:.0f} ops with open, the reads"
          f" (to EOF) and close timed apart, µs\n{'':<37}{'open':>8}{'reads':>8}{'close':>8}"
          f"{'open':>8}{'reads':>8}{'close':>8}\n{'':<37}" + f"{'mean':>8}" * 3 + f"{'p50':>8}" * 3)
    for label, _, _ in files:
        rows = [(src, split[(label, src)]) for src in SOURCES if (label, src) in split]
        for i, (src, s) in enumerate(rows):
            print(f"{label if i == 0 else '':<24}{src:<13}" + "".join(
                f"{us(s[f'{p}_{k}']):>8.1f}" for k in ("mean", "p50")
                for p in ("open", "read", "close")))


def print_ratios(files, rat):
    print(f"\nsysvisor-fs / other\n{'file':<24}{'other':<8}{'mean':>8}{'p50':>8}{'p99':>8}"
          f"{'round':>8}{'2 readers':>11}   target (on p50)")
    for label, _, is_lx in files:
        first = label
        for other in ("lxcfs", "floor", "/proc"):
            r = rat[label].get(other)
            if r is None:
                if other == "lxcfs":
                    why = "not run (--no-lxcfs)" if is_lx else "lxcfs has no /proc/sys"
                    print(f"{first:<24}{other:<8}{'n/a':>8}{'':>35}   {why}")
                    first = ""
                continue
            target = ""
            if other == "lxcfs":
                target = f"<= {TARGET_LXCFS:.2f}: {verdict(r['p50'], TARGET_LXCFS)}"
            elif other == "floor" and not is_lx:
                target = f"<= {TARGET_FLOOR_SYS:.2f}: {verdict(r['p50'], TARGET_FLOOR_SYS)}"
            two = "-" if r["2readers"] is None else f"{r['2readers']:.2f}"
            print(f"{first:<24}{other:<8}" + "".join(
                f"{r[k]:>8.2f}" for k in ("mean", "p50", "p99", "round_p50"))
                + f"{two:>11}   {target}".rstrip())
            first = ""
    print("  (round: median over rounds of the p50 ratio within one round; 2 readers: time per "
          "op under two\n  parallel readers, i.e. other's ops/s / sysvisor-fs's ops/s)")


def print_rss_and_summary(files, rat, rss):
    def vm(st):
        return (f"VmRSS {mib(st['VmRSS']):.1f} MiB, VmHWM {mib(st['VmHWM']):.1f} MiB, "
                f"{st['Threads']} threads")
    loaded, count = rss.get("loaded"), rss.get("count", 0)
    peak = mib(max(loaded["VmRSS"], loaded["VmHWM"])) if loaded else None
    print()
    if loaded:
        print(f"sysvisor-fs daemon: fresh VmRSS {mib(rss['fresh']['VmRSS']):.1f} MiB; with "
              f"{count} containers registered and read: {vm(loaded)}")
    for key, what in (("after_unregister", f"sysvisor-fs after unregistering the {count}"),
                      ("after_timing", "sysvisor-fs after the timing runs (1 container)"),
                      ("lxcfs", "lxcfs after the timing runs")):
        if rss.get(key):
            print(f"  {what}: {vm(rss[key])}")
    p50 = {other: [(rat[label][other]["p50"], label) for label, _, is_lx in files
                   if other in rat[label] and (other == "lxcfs" or not is_lx)]
           for other in ("lxcfs", "floor")}
    print("\nSUMMARY sysvisor-fs p50 ratios: /lxcfs "
          + (", ".join(f"{lb} {v:.2f}" for v, lb in p50["lxcfs"]) or "n/a") + "; /floor "
          + (", ".join(f"{lb} {v:.2f}" for v, lb in p50["floor"]) or "n/a")
          + (f"; RSS with {count} containers {peak:.1f} MiB" if loaded else ""))
    for other, target, what in (("lxcfs", TARGET_LXCFS, "every file"),
                                ("floor", TARGET_FLOOR_SYS, "/proc/sys")):
        if p50[other]:
            v, lb = max(p50[other])
            print(f"issue target: {what} <= {target:.2f} x {other}: worst {lb}, "
                  f"{verdict(v, target)}")
    if loaded:
        print(f"issue target: RSS with 100 containers <= {TARGET_RSS_MIB:.0f} MiB (max of VmRSS "
              f"and VmHWM, {count} containers): {verdict(peak, TARGET_RSS_MIB)[:-1]} MiB)")


# --- main -----------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sysvisor", default="build/sysvisor",
                   help="sysvisor binary (default: %(default)s, relative to cwd or repo root)")
    p.add_argument("--iterations", type=int, default=20000,
                   help="timed ops per file and source, over all rounds (default 20000)")
    p.add_argument("--warmup", type=int, default=2000,
                   help="untimed ops per file and source, spread over the rounds (default 2000)")
    p.add_argument("--rounds", type=int, default=4,
                   help="rounds of latency and throughput runs, sources rotated (default 4)")
    p.add_argument("--split-iterations", type=int, default=5000,
                   help="ops of the open/read/close split (default 5000)")
    p.add_argument("--seconds", type=float, default=2.0,
                   help="2-reader throughput time per file and source, over all rounds "
                        "(default 2)")
    p.add_argument("--containers", type=int, default=100,
                   help="containers registered for the RSS figure (default 100)")
    p.add_argument("--threads", type=int, default=8,
                   help="sysvisor fs --threads (default 8, the daemon's own default)")
    p.add_argument("--quick", action="store_true",
                   help="short run: defaults of 2000 iterations, 200 warm-up, 2 rounds, 500 "
                        "split, 0.5 s (flags given still win)")
    p.add_argument("--no-lxcfs", action="store_true", help="skip lxcfs (no install, no ratios)")
    p.add_argument("--json", metavar="FILE", help="also write all figures here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    if "--quick" in argv:
        p.set_defaults(iterations=2000, warmup=200, rounds=2, split_iterations=500, seconds=0.5)
    args = p.parse_args(argv)
    if (args.iterations < 1 or args.warmup < 0 or args.split_iterations < 1 or args.seconds <= 0
            or args.containers < 0 or args.rounds < 1):
        p.error("iterations, rounds and split iterations must be >= 1, warmup and containers "
                ">= 0, seconds > 0")
    return args


class Bench:
    """Everything one run makes, so cleanup() can take all of it down on any exit."""

    def __init__(self, args, progress):
        self.args, self.progress = args, progress
        self.workdir = tempfile.mkdtemp(prefix=NAME_PREFIX)
        self.cgroup = BenchCgroup(f"{NAME_PREFIX}{os.getpid()}")
        self.fs = self.lxcfs = self.floor = self.container = None

    def path(self, name):
        return os.path.join(self.workdir, name)

    def start_lxcfs(self, binary):
        mnt = self.path("lxcfs")
        self.lxcfs = FuseChild("lxcfs", [binary, "-f", "-l", "-p", self.path("lxcfs.pid"), mnt],
                               mnt, self.path("lxcfs.log"), "proc/meminfo")
        self.lxcfs.start()
        self.progress(f"lxcfs {self.lxcfs.proc.pid} mounted {mnt}")
        v = run([binary, "--version"], check=False)
        version = ((v.stdout.strip() or v.stderr.strip()).splitlines() or ["?"])[-1].strip('"')
        return f"lxcfs: {binary} {version} -f -l (loadavg virtualized), private mount"

    def start_floor(self, binary, root):
        # The floor serves what sysvisor-fs rendered for this container, same size.
        snap = self.path("floor-files")
        os.makedirs(snap)
        for _, path, _ in FILES:
            write(os.path.join(snap, os.path.basename(path)), read(root + path))
        mnt = self.path("floor")
        self.floor = FuseChild("fuse_floor", [binary, mnt] + [
            os.path.join(snap, os.path.basename(p)) for _, p, _ in FILES], mnt,
            self.path("floor.log"), os.path.basename(FILES[0][1]))
        self.floor.start()
        self.progress(f"fuse_floor {self.floor.proc.pid} mounted {mnt}")

    def dead(self):
        """The name of a daemon of ours that exited, if any."""
        for name, d in (("sysvisor fs", self.fs), ("lxcfs", self.lxcfs), ("fuse_floor",
                                                                          self.floor)):
            if d and d.proc and d.proc.poll() is not None:
                return f"{name} (exit {d.proc.returncode})"
        return None

    def paths(self, root):
        paths = {}
        for label, path, in_lxcfs in FILES:
            paths[label] = {"sysvisor-fs": root + path, "/proc": path,
                            "floor": os.path.join(self.floor.mnt, os.path.basename(path))}
            if self.lxcfs and in_lxcfs:
                paths[label]["lxcfs"] = self.lxcfs.mnt + path
        return paths

    def run(self):
        args = self.args
        binary = resolve_sysvisor(args.sysvisor)
        lxcfs_bin = None if args.no_lxcfs else ensure_lxcfs(self.progress)
        readloop, floor_bin, fuse_version = build_tools(self.workdir)
        self.cgroup.create()
        meta = {"kernel": platform.release(), "cpus": os.cpu_count(), "sysvisor": binary,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cgroups": self.cgroup.dirs,
                "loadavg_start": os.getloadavg()}
        self.fs = SysvisorFs(binary, self.workdir)
        self.fs.start(args.threads)
        self.progress(f"sysvisor fs {self.fs.proc.pid} mounted {self.fs.mnt}")
        rss = measure_rss(self.fs, args.containers, self.cgroup, self.progress) \
            if args.containers else {}
        self.container = Container(self.cgroup)
        root = self.fs.register(f"{NAME_PREFIX}{os.getpid()}-bench", self.container.pid)
        lxcfs_line = self.start_lxcfs(lxcfs_bin) if lxcfs_bin else "lxcfs: skipped (--no-lxcfs)"
        self.start_floor(floor_bin, root)
        meta["sources"] = [
            f"sysvisor-fs: {binary} fs --threads {args.threads} (pid {self.fs.proc.pid}), "
            f"container subtree {root}", lxcfs_line,
            f"floor: bench/fuse_floor.c, libfuse {fuse_version}, 8 threads, clone_fd, direct_io,"
            " serving copies of sysvisor-fs's texts"]
        paths = self.paths(root)
        reader = Reader(readloop, self.container, self.cgroup, self.dead)
        for label in paths:  # every path readable from inside before anything is timed
            for path in paths[label].values():
                reader("lat", path, 1, 0)
        lat, split, tput = measure(FILES, paths, reader, args, self.workdir, self.progress)
        rss["after_timing"] = self.fs.status()
        rss["lxcfs"] = self.lxcfs.status() if self.lxcfs else None
        meta["loadavg_end"] = os.getloadavg()
        rat = ratios(FILES, lat, tput)
        print_header(meta, args)
        print_tables(FILES, lat, split, tput)
        print_ratios(FILES, rat)
        print_rss_and_summary(FILES, rat, rss)
        if args.json:
            key = lambda d: {f"{a} {b}": v for (a, b), v in d.items()}  # noqa: E731
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "args": vars(args), "latency_ns": key(lat),
                           "split_ns": key(split), "two_readers": key(tput), "ratios": rat,
                           "rss_kib": rss}, f, indent=1)
            print(f"results written to {args.json}")

    def cleanup(self):
        notes = self.fs.stop() if self.fs else []
        for child in (self.floor, self.lxcfs):
            if child:
                notes += child.stop()
        if self.container:
            self.container.stop()
        left = self.cgroup.remove()
        if left:
            notes.append(f"cgroups not removed: {', '.join(left)}")
        for m in sorted((m for m in mount_points() if m.startswith(self.workdir + "/")),
                        reverse=True):
            lazy_umount(m)
            notes.append(f"lazily unmounted {m}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        for note in notes:
            print(f"bench: cleanup: {note}", file=sys.stderr)


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    if args.json:
        argv = [a for a in argv if not a.startswith("--json=")]
        if "--json" in argv:
            i = argv.index("--json")
            del argv[i:i + 2]
        argv += ["--json", os.path.abspath(args.json)]
    # The FUSE mounts live in a private mount namespace: the host never sees them.
    lifecycle.reexec_in_private_mount_ns(argv, script=__file__, inner_env=INNER_ENV)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    progress = (lambda msg: None) if args.quiet else (
        lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True))
    bench = Bench(args, progress)
    rc = 0
    try:
        bench.run()
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    except (BenchError, subprocess.TimeoutExpired, OSError) as e:
        print(f"bench: {e}", file=sys.stderr)
        rc = 1
    finally:
        # A second Ctrl-C must not leave daemons or mounts behind.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        bench.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
