#!/usr/bin/env python3
"""Time what dockerd does on the rootfs of a running container: `docker diff`, `docker export`,
`docker cp` out and `docker cp` in, with sysvisor-runc, runc and crun.

For a running system container (sysvisor-runc) dockerd reads and writes the rootfs through the
engine id view (a FUSE passthrough, one `sv-idview` server per container, mounted on Docker's
.../merged); for runc and crun it uses its overlay directly. The container itself never goes
through the view. One running container per runtime (`docker run -d --network none <busybox>
sleep 3600`), filled from inside with 2000 small files in 40 directories under /data and one
64 MiB file (/big.bin, from /dev/zero); then each round runs every operation once per runtime,
the runtime order rotated round by round. Prints median, p90, min and max per operation and
runtime, the ratios sysvisor/runc, sysvisor/crun and crun/runc, the sv-idview server's RSS, and
a final SUMMARY line. It is not a test: nothing fails on a time. Needs root. See
bench/README.md.

Built on docker_run.py (by import): the same private dockerd started through test/e2e's
DockerEnv, the same private mount namespace without cgroup2 (crun refuses hybrid hosts), the
same busybox image, but with this bench's own directories (/run/sysvisor-bench-view,
/var/lib/sysvisor-bench-view, cgroup parent sysvisor-bench-view, containers svbv-*), so it
never meets docker_run.py's or the e2e tests' daemons.
"""

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ left in bench/ or test/e2e/
sys.path.insert(0, BENCH_DIR)
import docker_run  # noqa: E402
import lifecycle  # noqa: E402
from docker_run import SYSVISOR, short  # noqa: E402
from lifecycle import BenchError, Spawner, drop_unified_hierarchy  # noqa: E402

INNER_ENV = "SVBV_INNER"
NAME_PREFIX = "svbv-"
RUN_DIR = "/run/sysvisor-bench-view"
DATA_DIR = "/var/lib/sysvisor-bench-view"
CGROUP_PARENT = "sysvisor-bench-view"
# docker_run's helpers (resolve_sysvisor, start_dockerd, remove_containers, cleanup) read these
# module globals when they run: pointed at this bench's names, they start, find and remove only
# this bench's dockerd, containers and cgroup parents.
docker_run.RUN_DIR, docker_run.DATA_DIR = RUN_DIR, DATA_DIR
docker_run.CGROUP_PARENT, docker_run.NAME_PREFIX = CGROUP_PARENT, NAME_PREFIX

OPS = ("diff", "export", "cp-out", "cp-in")
OP_TITLES = {"diff": "docker diff <c>",
             "export": "docker export <c> >/dev/null",
             "cp-out": "docker cp <c>:/data <tmpfs dir>",
             "cp-in": "docker cp <500 files> <c>:/cp-in-N"}
DIRS, FILES_PER_DIR, BIG_MIB, CP_IN_FILES = 40, 50, 64, 500
SMALL_FILES = DIRS * FILES_PER_DIR
# ~100 bytes each, written by the container's own shell (busybox applets of e2e's image).
POPULATE = (f"mkdir /data && for d in $(seq 1 {DIRS}); do mkdir /data/d$d; "
            f"for f in $(seq 1 {FILES_PER_DIR}); do "
            "printf 'small file %s/%s of the engine view bench, about a hundred bytes "
            "long...........\\n' $d $f > /data/d$d/f$f; done; done && "
            f"dd if=/dev/zero of=/big.bin bs=1M count={BIG_MIB} 2>/dev/null")


# --- the containers -------------------------------------------------------------------------

def mount_of(path):
    """(fs type, source) of the mount on top at path, in this mount namespace (dockerd's)."""
    top = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                sep = fields.index("-")
                top = (fields[sep + 1], fields[sep + 2])
    return top or ("(none)", "")


def view_servers(cid):
    """pids of the sv-idview servers whose command line (the `create` that forked them) names
    the container's full id."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() != "sv-idview":
                    continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if cid.encode() in f.read():
                    pids.append(int(name))
        except OSError:
            continue
    return pids


def proc_memory(pid):
    """{'VmRSS': KiB, 'VmHWM': KiB, 'fds': n, 'deleted': fds on deleted files} of a process,
    or None once it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        fds = os.listdir(f"/proc/{pid}/fd")
        out["fds"] = len(fds)
        out["deleted"] = 0
        for fd in fds:
            try:
                out["deleted"] += os.readlink(f"/proc/{pid}/fd/{fd}").endswith(" (deleted)")
            except OSError:
                pass
    except OSError:
        return None
    return out


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Target:
    """One running container of one runtime."""

    def __init__(self, env, runtime, image):
        self.runtime = runtime
        self.name = f"{NAME_PREFIX}{os.getpid()}-{short(runtime)}"
        r = env.docker("run", "-d", "--network", "none", "--name", self.name, "--runtime",
                       runtime, image, "sleep", "3600", timeout=120)
        if r.rc != 0:
            raise BenchError(f"{runtime}: docker run -d failed: {r.err.strip()}")
        self.cid = r.out.strip().splitlines()[-1]
        r = env.docker("exec", self.name, "sh", "-c", POPULATE, timeout=300)
        if r.rc != 0:
            raise BenchError(f"{runtime}: filling the container failed: {r.err.strip()}")
        self.merged = env.docker("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}",
                                 self.name, check=True).out.strip()
        self.fstype, self.source = mount_of(self.merged)
        self.view_pid = None
        if runtime == SYSVISOR:
            pids = view_servers(self.cid)
            if len(pids) != 1:
                raise BenchError(f"{runtime}: expected one sv-idview server for {self.cid[:12]}"
                                 f", found {pids} (rootfs at .../merged: {self.fstype})")
            self.view_pid = pids[0]


# --- measurement ----------------------------------------------------------------------------

class Ops:
    def __init__(self, env, docker, spawner, scratch):
        self.env, self.docker, self.spawner, self.scratch = env, docker, spawner, scratch
        self.checks = {op: {} for op in ("diff lines", "cp-out files", "cp-in files")}
        self.view_cpu = {op: [] for op in OPS}  # the sv-idview server's CPU per operation
        self.cp_src = os.path.join(scratch, "cp-src")
        os.mkdir(self.cp_src)
        for i in range(CP_IN_FILES):
            with open(os.path.join(self.cp_src, f"f{i}"), "w") as f:
                f.write(f"cp in file {i} of the engine view bench, about a hundred bytes "
                        "long..................\n")

    def spawn(self, t, argv, capture=False):
        res = self.spawner.run([self.docker, *argv], capture=capture)
        if res.code != 0:
            raise BenchError(f"{t.runtime}: `docker {' '.join(argv)}` exited {res.code}: "
                             f"{res.err.strip() or '(no stderr)'}")
        return res

    def check(self, key, t, value, want):
        self.checks[key].setdefault(short(t.runtime), set()).add(value)
        if want is not None and value != want:
            raise BenchError(f"{t.runtime}: {key}: {value}, expected {want}")

    def run(self, op, t, tag):
        """Seconds of one operation; what it did is checked untimed afterwards."""
        cpu = cpu_seconds(t.view_pid) if t.view_pid else None
        seconds = self.run_op(op, t, tag)
        if cpu is not None:
            self.view_cpu[op].append((cpu_seconds(t.view_pid) or cpu) - cpu)
        return seconds

    def run_op(self, op, t, tag):
        if op == "diff":
            res = self.spawn(t, ["diff", t.name], capture=True)
            # At least /data, its dirs and files, /big.bin; the same for every runtime.
            self.check("diff lines", t, len(res.out.splitlines()), None)
        elif op == "export":
            # To stdout, which Spawner points at /dev/null (`-o /dev/null` would make the client
            # rename its temp file over /dev/null).
            res = self.spawn(t, ["export", t.name])
        elif op == "cp-out":
            dest = os.path.join(self.scratch, f"out-{short(t.runtime)}-{tag}")
            res = self.spawn(t, ["cp", f"{t.name}:/data", dest])
            self.check("cp-out files", t, sum(len(f) for _, _, f in os.walk(dest)),
                       SMALL_FILES)
            shutil.rmtree(dest)
        else:
            dest = f"/cp-in-{tag}"
            res = self.spawn(t, ["cp", self.cp_src, f"{t.name}:{dest}"])
            # Removed again, so every round's diff and export see the same tree.
            r = self.env.docker("exec", t.name, "sh", "-c",
                                f"n=$(ls {dest} | wc -l); rm -rf {dest}; echo $n", timeout=120)
            self.check("cp-in files", t, int(r.out.strip() or -1), CP_IN_FILES)
        return res.seconds


def interleave(targets, rounds, ops, samples, rss, label, progress):
    names = list(targets)
    for r in range(rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        line = []
        for op in OPS:
            times = {}
            for name in order:
                t = targets[name]
                times[name] = ops.run(op, t, f"{label}{r + 1}")
                if samples is not None:
                    samples[op][name].append(times[name])
                if op == "export" and t.view_pid and samples is not None:
                    rss.append(proc_memory(t.view_pid))
            line.append(f"{op} " + "/".join(f"{times[n] * 1000:.0f}" for n in names))
        progress(f"{label} {r + 1}/{rounds} ({'/'.join(short(n) for n in names)}, ms): "
                 + ", ".join(line))


def export_sizes(env, targets, scratch):
    """Bytes of one more (untimed) export per runtime: the view must give the whole tree."""
    sizes = {}
    for name, t in targets.items():
        path = os.path.join(scratch, "export.tar")
        with open(path, "wb") as f:
            r = subprocess.run([env.docker_bin, "export", t.name], stdout=f,
                               stderr=subprocess.PIPE, env=os.environ, timeout=300)
        if r.returncode != 0:
            raise BenchError(f"{name}: docker export failed: {r.stderr.decode().strip()}")
        sizes[name] = os.path.getsize(path)
        os.unlink(path)
    return sizes


# --- report ---------------------------------------------------------------------------------

def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def print_report(results, args, meta):
    names = meta["runtimes"]
    print()
    print(f"engine view: docker diff / export / cp out / cp in of one running container per "
          f"runtime, {args.rounds} rounds after {args.warmup} warmup, runtime order rotated "
          "each round")
    print(f"  dockerd {meta['dockerd']} (private: {RUN_DIR}, {DATA_DIR}; cgroup parent "
          f"{CGROUP_PARENT}; cgroup2 unmounted: {', '.join(meta['cgroup2_unmounted']) or 'none'})"
          f", client {meta['client']}; overlay2 {meta['driver_status']}")
    for n in names:
        print(f"  {n:<14} {meta['versions'][n]}  ({meta['paths'][n]}); .../merged seen by "
              f"dockerd: {meta['rootfs'][n]}")
    print(f"  each container: {SMALL_FILES} files of ~100 B in {DIRS} dirs under /data, "
          f"/big.bin {BIG_MIB} MiB (made inside); cp in: {CP_IN_FILES} files of ~100 B, removed "
          "after each round")
    print(docker_run.load_line(meta))
    print()
    print(f"{'operation':<36}{'runtime':<16}{'median':>10}{'p90':>10}{'min':>10}{'max':>10}")
    for op in OPS:
        _, stats, _ = results[op]
        for i, n in enumerate(names):
            s = stats[n]
            print(f"{OP_TITLES[op] if i == 0 else '':<36}{n:<16}"
                  + "".join(f"{s[k] * 1000:>7.1f} ms" for k in ("median", "p90", "min", "max")))
    pairs = list(results[OPS[0]][2])
    if pairs:
        print()
        print(f"{'ratio (median; p90; per-round)':<36}"
              + "".join(f"{short(p.split('/')[0]) + '/' + short(p.split('/')[1]):>24}"
                        for p in pairs))
        for op in OPS:
            ratios = results[op][2]
            print(f"{op:<36}" + "".join(
                f"{ratios[p]['median']:>8.2f};{ratios[p]['p90']:>6.2f};"
                f"{ratios[p]['per_round_median']:>7.2f}" for p in pairs))
        print("  (median, p90: ratio of the two runtimes' values; per-round: median over rounds "
              "of the ratio within a round)")
    print()
    checks = meta["checks"]
    print("  checks: " + "; ".join(
        f"{key} " + ", ".join(f"{n} {'/'.join(str(v) for v in sorted(vals))}"
                              for n, vals in checks[key].items())
        for key in checks) + "; export bytes " + ", ".join(
        f"{short(n)} {b}" for n, b in meta["export_bytes"].items()))
    view = meta.get("idview")
    if view:
        after = [m["VmRSS"] for m in view["after_exports"] if m]
        last = view["after_exports"][-1] or {}
        fds = [str(m["fds"]) for m in view["after_exports"] if m]
        print(f"  sv-idview of the {SYSVISOR} container (pid {view['pid']}): VmRSS "
              f"{mib(view['before']['VmRSS'])} before the first operation, "
              f"{mib(last.get('VmRSS', 0))} after the last timed export (after each: "
              f"{mib(min(after))}-{mib(max(after))}), VmHWM {mib(last.get('VmHWM', 0))}; "
              f"open fds {view['before']['fds']} before, after each timed export "
              f"{'/'.join(fds)} (of them on deleted files at the end: "
              f"{last.get('deleted', 0)})")
        print("  sv-idview CPU (user+sys) per operation, median of the timed rounds: " + ", ".join(
            f"{op} {statistics.median(v) * 1000:.0f} ms" for op, v in view["cpu"].items() if v))
    print()
    key = f"{SYSVISOR}/runc"
    if key in results[OPS[0]][2]:
        tail = ", ".join(f"{op} {results[op][2][key]['median']:.2f}" for op in OPS)
        rss = (f"; sv-idview VmRSS after export {mib(last.get('VmRSS', 0))}" if view else "")
        print(f"SUMMARY engine view sysvisor/runc median ratios: {tail}{rss}")
    else:
        tail = "; ".join(f"{op} " + ", ".join(
            f"{short(n)} {results[op][1][n]['median'] * 1000:.1f} ms" for n in names)
            for op in OPS)
        print(f"SUMMARY engine view medians: {tail}")


# --- main -----------------------------------------------------------------------------------

def main(argv):
    args = docker_run.parse_args(argv, doc=__doc__, rounds=5, warmup=1)
    progress = docker_run.enter(argv, args, __file__, INNER_ENV)

    workdir = tempfile.mkdtemp(prefix=NAME_PREFIX)
    # docker cp out lands here, and the check export: a tmpfs in this private mount namespace.
    scratch = os.path.join(workdir, "scratch")
    os.mkdir(scratch, 0o700)
    spawner = Spawner(workdir)
    env = None
    rc = 0
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700,size=1g", "tmpfs", scratch],
                       check=True)
        dropped = drop_unified_hierarchy()
        if dropped:
            progress(f"private mount namespace: unmounted {', '.join(dropped)}")
        os.makedirs(RUN_DIR, exist_ok=True)
        runtimes = docker_run.resolve_runtimes(args.runtimes, args.sysvisor)
        paths = dict(runtimes)
        runc = shutil.which("runc") or "runc"
        paths["runc"] = paths.get("runc") or runc
        sysvisor_link = paths.get(SYSVISOR)
        e2e = docker_run.import_e2e(sysvisor_link or runc, docker_run.probe_for(sysvisor_link))
        # The private sysvisor-mgr keeps its id table and stores under e2e.DATA_DIR (read when
        # DockerEnv.start makes it): ours, not the e2e tests' table.
        e2e.DATA_DIR = DATA_DIR
        names = sorted((n for n, _ in runtimes),
                       key=lambda n: (docker_run.RANK.get(n, len(docker_run.RANK)), n))
        meta = {"kernel": platform.release(), "cpus": os.cpu_count(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runtimes": names,
                "rounds": args.rounds, "warmup": args.warmup, "cgroup2_unmounted": dropped,
                "paths": {n: os.path.realpath(paths[n]) for n in names},
                "versions": {n: docker_run.version_of(paths[n]) for n in names}}
        env, image = docker_run.start_docker(e2e, runtimes, meta, progress)
        env.docker_bin = e2e.DOCKER
        status = json.loads(env.docker("info", "--format", "{{json .DriverStatus}}",
                                       check=True).out or "[]") or []
        meta["driver_status"] = ", ".join(f"{k}: {v}" for k, v in status
                                          if k in ("Backing Filesystem", "Native Overlay Diff"))

        targets = {}
        for n in names:
            progress(f"{n}: starting and filling a container")
            targets[n] = Target(env, n, image)
        meta["rootfs"] = {n: t.fstype + (f" (sv-idview pid {t.view_pid})" if t.view_pid else "")
                          for n, t in targets.items()}
        view = next((t for t in targets.values() if t.view_pid), None)
        if view:
            meta["idview"] = {"pid": view.view_pid, "before": proc_memory(view.view_pid),
                              "after_exports": []}
        ops = Ops(env, e2e.DOCKER, spawner, scratch)
        samples = {op: {n: [] for n in names} for op in OPS}
        rss = meta["idview"]["after_exports"] if view else []
        meta["loadavg_start"] = os.getloadavg()
        interleave(targets, args.warmup, ops, None, rss, "warmup", progress)
        ops.view_cpu = {op: [] for op in OPS}
        interleave(targets, args.rounds, ops, samples, rss, "round", progress)
        meta["loadavg_end"] = os.getloadavg()
        meta["export_bytes"] = export_sizes(env, targets, scratch)
        meta["checks"] = ops.checks
        if view:
            meta["idview"]["cpu"] = ops.view_cpu

        results = {op: docker_run.summarize(samples[op]) for op in OPS}
        print_report(results, args, meta)
        if args.json:
            meta["checks"] = {k: {n: sorted(v) for n, v in c.items()}
                              for k, c in meta["checks"].items()}
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "samples": samples,
                           "stats": {op: results[op][1] for op in OPS},
                           "ratios": {op: results[op][2] for op in OPS}}, f, indent=1)
            print(f"results written to {args.json}")
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    except (BenchError, RuntimeError, AssertionError, OSError, subprocess.SubprocessError) as e:
        # RuntimeError/AssertionError: e2e's failed command or daemon start, with its output.
        print(f"bench: {e}", file=sys.stderr)
        rc = 1
    finally:
        # A second Ctrl-C must not leave containers, the daemon or mounts behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        rc = cleanup(env, spawner, workdir, scratch) or rc
    return rc


def cleanup(env, spawner, workdir, scratch):
    """docker_run's cleanup (containers, dockerd, mgr, fs, cgroup parents, workdir), with the
    scratch tmpfs unmounted first and the view and overlay mounts checked afterwards."""
    spawner.reap_inflight()
    if os.path.ismount(scratch):
        subprocess.run(["umount", scratch], check=False)
    rc = docker_run.cleanup(env, spawner, workdir)
    left = [mp for mp in lifecycle.cgroup_mounts() if mp[0].startswith(DATA_DIR + "/")]
    for mp, fs in reversed(left):
        # Only in this mount namespace, which ends with the bench; said, then lazily detached.
        print(f"bench: {fs} mount left at {mp}: unmounting", file=sys.stderr)
        subprocess.run(["umount", "-l", mp], check=False)
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
