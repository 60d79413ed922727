#!/usr/bin/env python3
"""Compare the container lifecycle cost of sysvisor-runc, crun and runc in one interleaved run.

Every runtime gets the same busybox bundle (default `runc spec`, terminal false, read-only root)
and its own --root under a temp dir; container ids start with `svb-`. Each round runs the
runtimes in a rotated order so drift (page cache, CPU frequency, other load) hits all of them
alike. Needs root. See bench/README.md.

Measured, median over rounds:
  lifecycle  create, state, start, wait for /bin/true to exit (pidfd on the init), delete
  run        foreground `run` of /bin/true
  rss        peak RSS of the `create` process, from wait4 ru_maxrss as reported by GNU
             time(1) (see below); the container init is reparented away from the create
             process and so not counted
  live       create + delete --force of one more container with 0, then --live, containers
             running `sleep 1000` per runtime

ru_maxrss of a process spawned straight from Python is never below Python's own RSS: the
kernel records the old mm's high-water mark into the process's maxrss at execve, and the spawned
child starts on a copy (fork) or a share (vfork) of Python's mm. So the RSS pass runs `create`
under /usr/bin/time, which forks from a ~1 MiB process; that floor is printed too.

Options make the bundle heavier for every runtime alike: --seccomp puts a profile (Docker's
default one, captured on this machine by docker_seccomp.sh) into linux.seccomp, --cgroups adds
memory, pids and cpu limits to linux.resources so every runtime writes them into its cgroups.

crun refuses hybrid cgroup hosts, so the bench re-executes itself in a private mount namespace
and unmounts the cgroup2 hierarchy there: all runtimes then see the same v1-only layout. The host
is not changed.
"""

import argparse
import hashlib
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

INNER_ENV = "SVB_INNER"
ID_PREFIX = "svb-"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
DOCKER_SECCOMP = os.path.join(BENCH_DIR, "docker_seccomp.sh")
# --cgroups: what `docker run -m 256m --pids-limit 1024 --cpu-shares 512` would ask for, minus
# swap (v1 memsw files exist only with swap accounting on).
CGROUP_LIMITS = {"memory": {"limit": 256 << 20}, "pids": {"limit": 1024},
                 "cpu": {"shares": 512}}
# Restored to default in every child: Python ignores SIGPIPE and SIGXFSZ, and we catch these.
CHILD_SIGDEF = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class BenchError(Exception):
    pass


class Result:
    __slots__ = ("code", "seconds", "maxrss_kib", "out", "err")

    def __init__(self, code, seconds, maxrss_kib, out, err):
        self.code, self.seconds, self.maxrss_kib, self.out, self.err = (
            code, seconds, maxrss_kib, out, err)


class Spawner:
    """posix_spawn + wait4: cheap, gives the child's rusage, same overhead for every runtime."""

    def __init__(self, workdir):
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.out_path = os.path.join(workdir, "stdout")
        self.err_path = os.path.join(workdir, "stderr")
        self.inflight = None  # pid of a child interrupted by Ctrl-C, reaped during cleanup

    def run(self, argv, capture=False):
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        err_fd = os.open(self.err_path, flags, 0o600)
        out_fd = os.open(self.out_path, flags, 0o600) if capture else self.devnull
        try:
            actions = [(os.POSIX_SPAWN_DUP2, self.devnull, 0),
                       (os.POSIX_SPAWN_DUP2, out_fd, 1),
                       (os.POSIX_SPAWN_DUP2, err_fd, 2)]
            start = time.perf_counter()
            # Own process group: a Ctrl-C on the terminal reaches only the bench, which then
            # lets the runtime finish its step and cleans up; no half-done create.
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions,
                                 setpgroup=0, setsigdef=CHILD_SIGDEF, setsigmask=())
            self.inflight = pid
            _, status, usage = os.wait4(pid, 0)
            seconds = time.perf_counter() - start
            self.inflight = None
        finally:
            os.close(err_fd)
            if capture:
                os.close(out_fd)
        out = _read(self.out_path) if capture else ""
        code = os.waitstatus_to_exitcode(status)
        return Result(code, seconds, usage.ru_maxrss, out, _read(self.err_path) if code else "")

    def reap_inflight(self, timeout=30.0):
        pid, self.inflight = self.inflight, None
        if pid is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class RssHelper:
    """Runs a command under GNU time(1) -f %M, which forks it and reports its ru_maxrss."""

    def __init__(self, time_path, workdir):
        self.time_path = time_path
        self.out = os.path.join(workdir, "maxrss")

    def wrap(self, argv):
        return [self.time_path, "-f", "%M", "-o", self.out, *argv]

    def read(self):
        # On failure time(1) writes "Command exited with non-zero status N" first.
        return int(_read(self.out).split()[-1])


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


class Runtime:
    def __init__(self, name, path, workdir, spawner):
        self.name, self.path, self.spawner = name, path, spawner
        self.root = os.path.join(workdir, "root-" + name)
        self.piddir = os.path.join(workdir, "pid-" + name)
        os.makedirs(self.piddir)
        self.ids = []  # every id this bench tried to create, for cleanup
        self.counter = 0

    def new_id(self, tag):
        self.counter += 1
        cid = f"{ID_PREFIX}{os.getpid()}-{self.name}-{tag}{self.counter}"
        self.ids.append(cid)
        return cid

    def call(self, *args, capture=False, check=True, rss_helper=None):
        # The plain OCI lifecycle against runc's and crun's: sysvisor-runc without the
        # system-container transform (bench/docker_run.py measures system containers).
        extra = ["--oci-only"] if self.name == "sysvisor-runc" else []
        argv = [self.path, *extra, "--root", self.root, *args]
        res = self.spawner.run(rss_helper.wrap(argv) if rss_helper else argv, capture=capture)
        if check and res.code != 0:
            raise BenchError(f"{self.name}: `{' '.join(argv)}` exited {res.code}: "
                             f"{res.err.strip() or '(no stderr)'}")
        if rss_helper:
            res.maxrss_kib = rss_helper.read()
        return res

    def status(self, cid):
        res = self.call("state", cid, capture=True)
        return res, json.loads(res.out)["status"]

    def version(self):
        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout
            return out.splitlines()[0].strip() if out else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"


# --- setup ----------------------------------------------------------------------------------

def reexec_in_private_mount_ns(argv, script=__file__, inner_env=INNER_ENV):
    """Re-executes `script` with argv in a private mount namespace (once: inner_env marks the
    inner run)."""
    if os.environ.get(inner_env) == "1":
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("bench: unshare(1) not found (package util-linux)")
    os.environ[inner_env] = "1"
    # unshare execs us in place (no fork): same pid, Ctrl-C reaches us directly.
    os.execv(unshare, [unshare, "-m", "--propagation", "private", "--",
                       sys.executable, os.path.abspath(script), *argv])


def cgroup_mounts():
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mounts.append((fields[4], fields[sep + 1]))
    return mounts


def drop_unified_hierarchy():
    """On a hybrid host, unmount cgroup2 (this mount namespace only) so crun accepts it."""
    mounts = cgroup_mounts()
    has_v1 = any(fs == "cgroup" for _, fs in mounts)
    dropped = []
    for point, fs in mounts:
        if fs == "cgroup2" and has_v1 and point != "/sys/fs/cgroup":
            subprocess.run(["umount", point], check=True)
            dropped.append(point)
    return dropped


def resolve_runtimes(spec, sysvisor, workdir):
    runtimes = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        if item in ("sysvisor", "sysvisor-runc"):
            binary = sysvisor if os.path.isabs(sysvisor) else next(
                (p for p in (os.path.abspath(sysvisor), os.path.join(REPO_ROOT, sysvisor))
                 if os.path.exists(p)), os.path.abspath(sysvisor))
            if not os.access(binary, os.X_OK):
                raise BenchError(f"sysvisor binary '{binary}' not found: build it "
                                 "(bash scripts/build.sh) or pass --runtimes runc,crun")
            # The binary picks its role from argv[0].
            bindir = os.path.join(workdir, "bin")
            os.makedirs(bindir, exist_ok=True)
            link = os.path.join(bindir, "sysvisor-runc")
            os.symlink(binary, link)
            runtimes.append(("sysvisor-runc", link))
            continue
        path = item if os.sep in item else shutil.which(item)
        if not path or not os.access(path, os.X_OK):
            raise BenchError(f"runtime '{item}' not found")
        runtimes.append((os.path.basename(path), os.path.abspath(path)))
    names = [n for n, _ in runtimes]
    if len(set(names)) != len(names):
        raise BenchError(f"runtime names must differ: {names}")
    return runtimes


def resolve_seccomp(value):
    """--seccomp: 'docker' = docker_seccomp.sh's cached capture (made if absent), else a file
    holding a linux.seccomp object or a whole config.json. Returns an absolute path."""
    if value == "docker":
        res = subprocess.run(["bash", DOCKER_SECCOMP], stdout=subprocess.PIPE, text=True)
        lines = res.stdout.split()
        if res.returncode != 0 or not lines:
            sys.exit(f"bench: {DOCKER_SECCOMP} failed (exit {res.returncode})")
        return lines[-1]
    path = os.path.abspath(value)
    if not os.path.isfile(path):
        sys.exit(f"bench: --seccomp: no file '{value}' (or use 'docker')")
    return path


def load_seccomp(path):
    with open(path, "rb") as f:
        raw = f.read()
    doc = json.loads(raw)
    profile = doc.get("linux", {}).get("seccomp") if "ociVersion" in doc else doc
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise BenchError(f"--seccomp {path}: neither a seccomp profile nor a config.json with one")
    info = {"path": path, "sha256": hashlib.sha256(raw).hexdigest()[:16],
            "defaultAction": profile["defaultAction"],
            "rules": len(profile.get("syscalls", [])),
            "syscalls": sum(len(r.get("names", [])) for r in profile.get("syscalls", [])),
            "architectures": profile.get("architectures", [])}
    return profile, info


def make_bundles(workdir, spec_tool, seccomp=None, cgroups=False):
    rootfs = os.path.join(workdir, "rootfs")
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "root"):
        os.makedirs(os.path.join(rootfs, d))
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")

    gen = os.path.join(workdir, "spec-gen")
    os.makedirs(gen)
    subprocess.run([spec_tool, "spec"], cwd=gen, check=True)
    with open(os.path.join(gen, "config.json")) as f:
        base = json.load(f)

    bundles = {}
    for name, args in (("true", ["/bin/true"]), ("sleep", ["/bin/sleep", "1000"])):
        spec = json.loads(json.dumps(base))
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        spec["root"] = {"path": rootfs, "readonly": True}
        if seccomp is not None:
            spec["linux"]["seccomp"] = seccomp
        if cgroups:
            spec["linux"].setdefault("resources", {}).update(json.loads(json.dumps(CGROUP_LIMITS)))
        bundle = os.path.join(workdir, "bundle-" + name)
        os.makedirs(bundle)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f, indent=2)
        bundles[name] = bundle
    bundles["rootfs"] = rootfs
    return bundles


# --- measurements ---------------------------------------------------------------------------

def wait_exit(rt, cid, pid, method, timeout=30.0):
    deadline = time.monotonic() + timeout
    if method == "pidfd":
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # already gone
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(timeout * 1000):
                raise BenchError(f"{rt.name}: container {cid} did not exit within {timeout}s")
        finally:
            os.close(fd)
        return
    while time.monotonic() < deadline:
        if rt.status(cid)[1] == "stopped":
            return
    raise BenchError(f"{rt.name}: container {cid} not stopped within {timeout}s")


def lifecycle_round(rt, bundles, wait_method, rss=False, rss_helper=None):
    """One create/state/start/wait/delete cycle; with rss, only create's peak RSS counts."""
    cid = rt.new_id("rss" if rss else "lc")
    pidfile = os.path.join(rt.piddir, cid)
    create = rt.call("create", "--bundle", bundles["true"], "--pid-file", pidfile, cid,
                     rss_helper=rss_helper)
    with open(pidfile) as f:
        pid = int(f.read().strip())
    state, status = rt.status(cid)
    if status != "created":
        raise BenchError(f"{rt.name}: {cid} is '{status}' after create, expected 'created'")
    start = rt.call("start", cid)
    t0 = time.perf_counter()
    wait_exit(rt, cid, pid, wait_method)
    waited = time.perf_counter() - t0
    delete = rt.call("delete", cid)
    if rss:
        return {"create_kib": create.maxrss_kib}
    return {
        "create": create.seconds, "state": state.seconds, "start": start.seconds,
        "wait": waited, "delete": delete.seconds,
        "total": create.seconds + start.seconds + waited + delete.seconds,
    }


def run_round(rt, bundles):
    return {"run": rt.call("run", "--bundle", bundles["true"], rt.new_id("run")).seconds}


def create_delete_round(rt, bundles):
    cid = rt.new_id("cd")
    create = rt.call("create", "--bundle", bundles["sleep"], cid)
    delete = rt.call("delete", "--force", cid)
    return {"create": create.seconds, "delete": delete.seconds,
            "create_delete": create.seconds + delete.seconds}


def interleave(runtimes, rounds, fn, samples, key, progress):
    for r in range(rounds):
        k = r % len(runtimes)
        for rt in runtimes[k:] + runtimes[:k]:
            for metric, value in fn(rt).items():
                samples[rt.name].setdefault(f"{key}.{metric}", []).append(value)
        progress(f"{key}: round {r + 1}/{rounds}")


def fill_live(runtimes, bundles, count, samples, live_ids, progress):
    for i in range(count):
        k = i % len(runtimes)
        for rt in runtimes[k:] + runtimes[:k]:
            cid = rt.new_id("live")
            create = rt.call("create", "--bundle", bundles["sleep"], cid)
            start = rt.call("start", cid)
            live_ids[rt.name].append(cid)
            samples[rt.name].setdefault("fill.create_start", []).append(
                create.seconds + start.seconds)
        if (i + 1) % 10 == 0 or i + 1 == count:
            progress(f"live: {i + 1}/{count} containers per runtime running")


def drain_live(runtimes, live_ids, samples, progress):
    for rt in runtimes:
        for cid in live_ids[rt.name]:
            res = rt.call("delete", "--force", cid)
            samples[rt.name].setdefault("drain.delete_force", []).append(res.seconds)
        live_ids[rt.name].clear()
    progress("live: all removed")


# --- cleanup --------------------------------------------------------------------------------

def seccomp_cache_entries(runtimes):
    """sysvisor-runc's compiled-filter cache under its --root: {name: (inode, mtime)}. A miss
    stores its entry by rename, so an entry unchanged since the warmup was hit every time."""
    for rt in runtimes:
        cache = os.path.join(rt.root, ".seccomp-cache")
        if rt.name == "sysvisor-runc" and os.path.isdir(cache):
            entries = {}
            for name in os.listdir(cache):
                st = os.stat(os.path.join(cache, name))
                entries[name] = (st.st_ino, st.st_mtime_ns)
            return entries
    return None


def cleanup(runtimes, spawner, workdir):
    spawner.reap_inflight()
    for rt in runtimes:
        ids = set(rt.ids)
        try:
            res = rt.call("list", "-q", capture=True, check=False)
            ids |= {line.strip() for line in res.out.splitlines()
                    if line.strip().startswith(ID_PREFIX)}
        except OSError:
            pass
        for cid in sorted(ids):
            try:
                rt.call("delete", "--force", cid, check=False)
            except OSError:
                pass
    # A runtime that failed half-way may leave cgroup directories; ours carry our pid.
    prefix = f"{ID_PREFIX}{os.getpid()}-"
    for point, fs in cgroup_mounts():
        if fs in ("cgroup", "cgroup2") and os.path.isdir(point):
            for entry in os.listdir(point):
                if entry.startswith(prefix):
                    try:
                        os.rmdir(os.path.join(point, entry))
                    except OSError:
                        pass
    shutil.rmtree(workdir, ignore_errors=True)


# --- report ---------------------------------------------------------------------------------

def med(values):
    return statistics.median(values) if values else None


RANK = {"sysvisor-runc": 0, "crun": 1, "runc": 2}


def build_report(runtimes, samples, args):
    """Rows of (label, unit, {runtime: median or None}, with_ratios)."""
    # Columns and ratio pairs in a fixed order: sysvisor, crun, runc, then any other runtime.
    names = sorted((rt.name for rt in runtimes), key=lambda n: RANK.get(n, len(RANK)))
    rows = []

    def value(name, key, scale):
        values = samples[name].get(key)
        return med(values) * scale if values else None

    def row(label, key, unit="ms", scale=1000.0):
        rows.append((label, unit, {n: value(n, key, scale) for n in names}, True))

    def slowdown(label, loaded, idle):
        vals = {}
        for n in names:
            a, b = value(n, loaded, 1.0), value(n, idle, 1.0)
            vals[n] = a / b if a and b else None
        rows.append((label, "x", vals, False))

    row("lifecycle: create", "lifecycle.create")
    row("lifecycle: state (created)", "lifecycle.state")
    row("lifecycle: start", "lifecycle.start")
    row("lifecycle: wait for exit", "lifecycle.wait")
    row("lifecycle: delete (stopped)", "lifecycle.delete")
    row("lifecycle: total (c+s+w+d)", "lifecycle.total")
    row("run /bin/true", "run.run")
    row("peak RSS of create", "rss.create_kib", "MiB", 1 / 1024)
    if args.live > 0:
        n = args.live
        row("create+delete -f, 0 live", "idle.create_delete")
        row(f"create+delete -f, {n} live", "loaded.create_delete")
        slowdown(f"  slowdown with {n} live", "loaded.create_delete", "idle.create_delete")
        row("create, 0 live", "idle.create")
        row(f"create, {n} live", "loaded.create")
        slowdown(f"  slowdown with {n} live", "loaded.create", "idle.create")
        row(f"create+start of live 1..{n}", "fill.create_start")
        row("delete -f of a live one", "drain.delete_force")
    return names, rows


def short(name):
    return "sysvisor" if name == "sysvisor-runc" else name


def fmt_load(load):
    return " ".join(f"{x:.2f}" for x in load)


def bundle_label(meta):
    sc, cg = meta.get("seccomp"), meta.get("cgroups")
    parts = []
    if sc:
        parts.append(f"seccomp {os.path.basename(sc['path'])} ({sc['defaultAction']}, "
                     f"{sc['syscalls']} syscalls in {sc['rules']} rules, "
                     f"{len(sc['architectures'])} arches, sha256 {sc['sha256']})")
    else:
        parts.append("no seccomp")
    if cg:
        parts.append(f"cgroup limits memory {cg['memory']['limit'] >> 20} MiB, pids "
                     f"{cg['pids']['limit']}, cpu shares {cg['cpu']['shares']} (+ devices deny-all)")
    else:
        parts.append("cgroups with the default devices rule only")
    return "; ".join(parts)


def print_report(names, rows, args, meta):
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    lw = max(len(r[0]) for r in rows) + 2
    head = (f"{'metric':<{lw}}{'unit':<5}" + "".join(f"{n:>15}" for n in names) +
            "".join(f"{short(a) + '/' + short(b):>16}" for a, b in pairs))
    print()
    print(f"medians: {args.rounds} rounds ({args.live_rounds} for the live rows), "
          f"runtime order rotated each round; wait for exit: {args.wait}")
    print(f"  bundle: {bundle_label(meta)}")
    if meta.get("seccomp_cache"):
        print(f"  sysvisor-runc seccomp cache after the run: {meta['seccomp_cache']}")
    for n in names:
        print(f"  {n:<14} {meta['versions'][n]}  ({meta['paths'][n]})")
    print(f"  load average (1/5/15 min) at start {fmt_load(meta['loadavg_start'])}, "
          f"at end {fmt_load(meta['loadavg_end'])} ({meta['cpus']} CPUs)")
    if meta.get("rss_floor_kib"):
        print(f"  RSS via {meta['rss_helper']}; its floor (static busybox true): "
              f"{meta['rss_floor_kib'] / 1024:.2f} MiB")
    elif meta.get("rss_helper") is None:
        print("  RSS via wait4 from Python: includes Python's own RSS (install `time`)")
    print(head)
    print("-" * len(head))
    for label, unit, vals, with_ratios in rows:
        cells = "".join(f"{vals[n]:>15.2f}" if vals[n] is not None else f"{'-':>15}"
                        for n in names)
        ratios = "".join(
            f"{vals[a] / vals[b]:>16.2f}" if with_ratios and vals[a] and vals[b] else f"{'':>16}"
            for a, b in pairs)
        print(f"{label:<{lw}}{unit:<5}{cells}{ratios}".rstrip())
    by = {label: vals for label, _, vals, _ in rows}
    total, run = by["lifecycle: total (c+s+w+d)"], by["run /bin/true"]
    parts = [f"{short(n)} {total[n]:.1f}/{run[n]:.1f} ms" for n in names]
    ratios = [f"{short(a)}/{short(b)} {total[a] / total[b]:.2f}/{run[a] / run[b]:.2f}"
              for a, b in pairs]
    print()
    tags = "+".join(t for t, on in (("seccomp", meta.get("seccomp")),
                                   ("cgroups", meta.get("cgroups"))) if on)
    print(f"SUMMARY{f' [{tags}]' if tags else ''} lifecycle/run medians: " + ", ".join(parts) +
          ("; ratios " + ", ".join(ratios) if ratios else ""))


# --- main -----------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtimes", default="sysvisor,crun,runc",
                   help="comma-separated names or paths; 'sysvisor' means --sysvisor through a "
                        "sysvisor-runc symlink (default: %(default)s)")
    p.add_argument("--sysvisor", default="build/sysvisor",
                   help="sysvisor binary (default: %(default)s, relative to cwd or repo root)")
    p.add_argument("--rounds", type=int, default=30, help="rounds per measurement (default 30)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    p.add_argument("--live", type=int, default=100,
                   help="live containers per runtime for the load test; 0 skips (default 100)")
    p.add_argument("--live-rounds", type=int, default=10,
                   help="rounds of create+delete at 0 and at --live (default 10)")
    p.add_argument("--wait", choices=("pidfd", "state"), default="pidfd",
                   help="how to wait for /bin/true to exit: pidfd on the container init "
                        "(default) or polling `state` until stopped")
    p.add_argument("--keep-unified", action="store_true",
                   help="do not unmount cgroup2 on a hybrid host (crun then refuses to run)")
    p.add_argument("--seccomp", metavar="PROFILE",
                   help="put a seccomp profile into every runtime's bundle: 'docker' = Docker's "
                        "default profile as captured on this machine by bench/docker_seccomp.sh "
                        "(cached in bench/results/), or a file with a linux.seccomp object or a "
                        "whole config.json")
    p.add_argument("--cgroups", action="store_true",
                   help="add cgroup limits to every bundle (memory 256 MiB, pids 1024, cpu "
                        "shares 512) so each runtime writes them")
    p.add_argument("--json", metavar="FILE", help="also write all samples and medians here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.live < 0 or args.live_rounds < 1 or args.warmup < 0:
        p.error("rounds and live-rounds must be >= 1, live and warmup >= 0")
    return args


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    if args.seccomp and os.environ.get(INNER_ENV) != "1":
        # Outside the private mount namespace (docker may be started), and the inner process
        # gets the file's path.
        path = resolve_seccomp(args.seccomp)
        argv = [a for a in argv if not a.startswith("--seccomp=")]
        if "--seccomp" in argv:
            i = argv.index("--seccomp")
            del argv[i:i + 2]
        argv += ["--seccomp", path]
    reexec_in_private_mount_ns(argv)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    progress = (lambda msg: None) if args.quiet else (
        lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True))
    dropped = [] if args.keep_unified else drop_unified_hierarchy()

    workdir = tempfile.mkdtemp(prefix=ID_PREFIX)
    # Readable by a user-namespaced container root, which may need to walk to the rootfs.
    os.chmod(workdir, 0o755)
    spawner = Spawner(workdir)
    runtimes = []
    rc = 0
    try:
        resolved = resolve_runtimes(args.runtimes, args.sysvisor, workdir)
        runtimes = [Runtime(n, p, workdir, spawner) for n, p in resolved]
        spec_tool = shutil.which("runc") or resolved[0][1]
        seccomp, seccomp_info = (load_seccomp(args.seccomp) if args.seccomp else (None, None))
        bundles = make_bundles(workdir, spec_tool, seccomp, args.cgroups)
        meta = {
            "kernel": platform.release(), "cpus": os.cpu_count(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": {rt.name: rt.version() for rt in runtimes},
            "paths": {rt.name: rt.path for rt in runtimes},
            "spec_from": spec_tool, "cgroup2_unmounted": dropped,
            "rounds": args.rounds, "warmup": args.warmup, "live": args.live,
            "live_rounds": args.live_rounds, "wait": args.wait,
            "seccomp": seccomp_info, "cgroups": CGROUP_LIMITS if args.cgroups else None,
            "loadavg_start": os.getloadavg(),
        }
        if dropped:
            progress(f"private mount namespace: unmounted {', '.join(dropped)}")
        samples = {rt.name: {} for rt in runtimes}
        scratch = {rt.name: {} for rt in runtimes}

        if args.warmup:
            interleave(runtimes, args.warmup, lambda rt: lifecycle_round(rt, bundles, args.wait),
                       scratch, "warmup", progress)
            interleave(runtimes, args.warmup, lambda rt: run_round(rt, bundles), scratch,
                       "warmup", progress)
        cache_after_warmup = seccomp_cache_entries(runtimes) if args.warmup else None
        interleave(runtimes, args.rounds, lambda rt: lifecycle_round(rt, bundles, args.wait),
                   samples, "lifecycle", progress)
        interleave(runtimes, args.rounds, lambda rt: run_round(rt, bundles), samples, "run",
                   progress)
        time_path = shutil.which("time") or (
            "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None)
        rss_helper = RssHelper(time_path, workdir) if time_path else None
        meta["rss_helper"] = time_path
        if rss_helper:
            true = os.path.join(bundles["rootfs"], "bin", "true")
            floor = spawner.run(rss_helper.wrap([true]))
            meta["rss_floor_kib"] = rss_helper.read() if floor.code == 0 else None
        interleave(runtimes, args.rounds,
                   lambda rt: lifecycle_round(rt, bundles, args.wait, True, rss_helper),
                   samples, "rss", progress)
        if args.live > 0:
            interleave(runtimes, args.live_rounds, lambda rt: create_delete_round(rt, bundles),
                       samples, "idle", progress)
            live_ids = {rt.name: [] for rt in runtimes}
            fill_live(runtimes, bundles, args.live, samples, live_ids, progress)
            interleave(runtimes, args.live_rounds, lambda rt: create_delete_round(rt, bundles),
                       samples, "loaded", progress)
            drain_live(runtimes, live_ids, samples, progress)

        meta["loadavg_end"] = os.getloadavg()
        cache_at_end = seccomp_cache_entries(runtimes)
        if cache_at_end is not None:
            n = len(cache_at_end)
            note = f"{n} entr{'y' if n == 1 else 'ies'}"
            if cache_after_warmup:
                note += ("; unchanged since the warmup: every timed create hit it"
                         if cache_at_end == cache_after_warmup else
                         "; rewritten after the warmup: some timed creates missed it")
            meta["seccomp_cache"] = note
        names, rows = build_report(runtimes, samples, args)
        print_report(names, rows, args, meta)
        if args.json:
            medians = {n: {k: med(v) for k, v in samples[n].items()} for n in names}
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "medians": medians, "samples": samples}, f, indent=1)
            print(f"results written to {args.json}")
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        rc = 1
    finally:
        # A second Ctrl-C must not leave containers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        cleanup(runtimes, spawner, workdir)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
