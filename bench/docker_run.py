#!/usr/bin/env python3
"""Compare `docker run --rm --network none <busybox> true` through sysvisor-runc, runc and crun.

One private dockerd (own config, socket, exec root and pid file under /run/sysvisor-bench, data
root /var/lib/sysvisor-bench/docker, cgroup parent `sysvisor-bench`) has every runtime
registered; each round runs `docker run` once per runtime, in an order rotated round by round,
so drift (page cache, CPU frequency, other load) hits all of them alike. Prints the median, p90
and range per runtime and the ratios sysvisor/runc, sysvisor/crun and crun/runc. It is not a
test: nothing fails on a time. Needs root. See bench/README.md.

The daemon is started the way test/e2e does it (e2e.DockerEnv, by import, with this bench's own
directories), and the image is e2e's busybox image, imported into the bench's data root. crun
refuses hybrid cgroup hosts, so the bench re-executes itself in a private mount namespace and
unmounts the cgroup2 hierarchy there before it starts dockerd: dockerd, containerd, the shims
and all three runtimes then see the same v1-only layout. The host is not changed, and neither
the e2e tests' dockerd nor a user's Docker is touched.
"""

import argparse
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

INNER_ENV = "SVBD_INNER"
NAME_PREFIX = "svbd-"
RUN_DIR = "/run/sysvisor-bench"
DATA_DIR = "/var/lib/sysvisor-bench"
CGROUP_PARENT = "sysvisor-bench"
CRUN = "/usr/bin/crun"
SYSVISOR = "sysvisor-runc"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
E2E_DIR = os.path.join(REPO_ROOT, "test", "e2e")
# Printed, never asserted: the goal and what crun reaches on this host. Under Docker,
# sysvisor-runc makes system containers (user namespace, exclusive range from a private
# sysvisor-mgr, registration with a private sysvisor-fs and its binds, idmapped overlay
# layers), compared with runc's and crun's plain containers.
TARGET = 1.05
CRUN_HERE = 0.94

sys.dont_write_bytecode = True  # no __pycache__ left in bench/ or test/e2e/
sys.path.insert(0, BENCH_DIR)
import lifecycle  # noqa: E402
from lifecycle import BenchError, Spawner, cgroup_mounts, drop_unified_hierarchy  # noqa: E402


# --- setup ----------------------------------------------------------------------------------

def resolve_sysvisor(path):
    binary = path if os.path.isabs(path) else next(
        (p for p in (os.path.abspath(path), os.path.join(REPO_ROOT, path)) if os.path.exists(p)),
        os.path.abspath(path))
    if not os.access(binary, os.X_OK):
        raise BenchError(f"sysvisor binary '{binary}' not found: build it (bash scripts/build.sh) "
                         "or pass --runtimes runc,crun")
    # The multi-call binary takes its role from argv[0]; dockerd's shim execs this name.
    bindir = os.path.join(RUN_DIR, "bin")
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, SYSVISOR)
    tmp = f"{link}.{os.getpid()}"
    os.symlink(binary, tmp)
    os.replace(tmp, link)
    return binary, link


def resolve_runtimes(spec, sysvisor):
    """[(docker runtime name, path to register or None for dockerd's built-in runc)]."""
    runtimes = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        if item in ("sysvisor", SYSVISOR):
            runtimes.append((SYSVISOR, resolve_sysvisor(sysvisor)[1]))
        elif item == "runc":
            runtimes.append(("runc", None))
        else:
            path = CRUN if item == "crun" else item if os.sep in item else shutil.which(item)
            if not path or not os.access(path, os.X_OK):
                raise BenchError(f"runtime '{item}' not found")
            runtimes.append((os.path.basename(path), os.path.abspath(path)))
    names = [n for n, _ in runtimes]
    if not names or len(set(names)) != len(names):
        raise BenchError(f"runtime names must differ and not be empty: {names}")
    return runtimes


def probe_for(sysvisor):
    """e2e's image carries the static probe (the bench never runs it): the one of the build the
    sysvisor binary comes from, else busybox stands in for it."""
    build = os.path.dirname(os.path.realpath(sysvisor)) if sysvisor else None
    probe = os.path.join(build, "test", "sv-probe") if build else None
    return probe if probe and os.path.isfile(probe) else "/bin/busybox"


def import_e2e(runc_path, probe):
    # e2e resolves these at import; a path not named `sysvisor` is used as given, so nothing is
    # written under the e2e tests' /run/sysvisor-e2e.
    os.environ["SV_RUNC"] = runc_path
    os.environ["SV_PROBE"] = probe
    sys.path.insert(0, E2E_DIR)
    import e2e
    return e2e


def start_dockerd(e2e, runtimes):
    pidfile = os.path.join(RUN_DIR, "docker.pid")
    pid = e2e._read_pid(pidfile)
    if pid and e2e._pid_alive(pid):
        raise BenchError(f"dockerd {pid} of another bench run still owns {RUN_DIR} (a bench "
                         f"killed with SIGKILL leaves it): stop it with `kill {pid}`, then rerun")
    # A fresh config (the runtimes registered are exactly the ones asked for) and log each run.
    for stale in ("daemon.json", "daemon.json.sysvisor.bak", "dockerd.log"):
        if os.path.exists(os.path.join(RUN_DIR, stale)):
            os.unlink(os.path.join(RUN_DIR, stale))
    env = e2e.DockerEnv(base_dir=RUN_DIR, data_dir=DATA_DIR, cgroup_parent=CGROUP_PARENT,
                        runtimes={n: p for n, p in runtimes if p})
    env.start()
    return env


# --- measurement ----------------------------------------------------------------------------

class Runner:
    def __init__(self, docker, image, spawner):
        self.docker, self.image, self.spawner = docker, image, spawner
        self.counter = 0

    def run(self, runtime):
        self.counter += 1
        short = "sysvisor" if runtime == SYSVISOR else runtime
        name = f"{NAME_PREFIX}{os.getpid()}-{short}-{self.counter}"
        argv = [self.docker, "run", "--rm", "--network", "none", "--name", name,
                "--runtime", runtime, self.image, "true"]
        res = self.spawner.run(argv)
        if res.code != 0:
            raise BenchError(f"{runtime}: `{' '.join(argv)}` exited {res.code}: "
                             f"{res.err.strip() or '(no stderr)'}")
        return res.seconds


def interleave(names, rounds, runner, samples, label, progress):
    for r in range(rounds):
        k = r % len(names)
        times = {}
        for name in names[k:] + names[:k]:
            times[name] = runner.run(name)
            if samples is not None:
                samples[name].append(times[name])
        progress(f"{label} {r + 1}/{rounds}: " +
                 ", ".join(f"{n} {times[n] * 1000:.0f}" for n in names) + " ms")


def remove_containers(env):
    r = env.docker("ps", "-aq", "--filter", f"name={NAME_PREFIX}", timeout=30)
    ids = r.out.split()
    if ids:
        env.docker("rm", "-f", *ids, timeout=120)
    return ids


# --- report ---------------------------------------------------------------------------------

def p90(values):
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


RANK = {SYSVISOR: 0, "runc": 1, "crun": 2}


def ratio_pairs(names):
    pairs = [(a, b) for a, b in ((SYSVISOR, "runc"), (SYSVISOR, "crun"), ("crun", "runc"))
             if a in names and b in names]
    others = [n for n in names if n not in RANK]
    return pairs + [(n, "runc") for n in others if "runc" in names]


def summarize(samples):
    names = sorted(samples, key=lambda n: (RANK.get(n, len(RANK)), n))
    stats = {n: {"median": statistics.median(v), "p90": p90(v), "min": min(v), "max": max(v)}
             for n, v in samples.items()}
    ratios = {}
    for a, b in ratio_pairs(names):
        per_round = [x / y for x, y in zip(samples[a], samples[b])]
        ratios[f"{a}/{b}"] = {"median": stats[a]["median"] / stats[b]["median"],
                              "p90": stats[a]["p90"] / stats[b]["p90"],
                              "per_round_median": statistics.median(per_round)}
    return names, stats, ratios


def short(name):
    return "sysvisor" if name == SYSVISOR else name


def start_docker(e2e, runtimes, meta, progress):
    """The bench's dockerd started, this process's Docker client pointed at it (Spawner passes
    os.environ), meta's "dockerd", "client" and "image" filled in, containers of an earlier run
    of the bench removed. Returns (env, image)."""
    progress(f"starting dockerd (log: {os.path.join(RUN_DIR, 'dockerd.log')})")
    env = start_dockerd(e2e, runtimes)
    os.environ.pop("DOCKER_CONTEXT", None)
    os.environ["DOCKER_HOST"] = env.host
    os.environ["DOCKER_CONFIG"] = env.env["DOCKER_CONFIG"]
    meta["dockerd"] = env.docker("version", "--format", "{{.Server.Version}}").out.strip()
    client = env.docker("version", "--format", "{{.Client.Version}}").out.strip()
    meta["client"] = f"{e2e.DOCKER} {client}"
    progress("importing the busybox image (cached in the data root)")
    image = meta["image"] = env.ensure_busybox_image()
    left = remove_containers(env)
    if left:
        progress(f"removed {len(left)} {NAME_PREFIX} containers of an earlier run")
    return env, image


def load_line(meta):
    """The report's line on the machine's load during the run (meta: loadavg_start/_end, cpus)."""
    load = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    return (f"  load average (1/5/15 min) at start {load(meta['loadavg_start'])}, at end "
            f"{load(meta['loadavg_end'])} ({meta['cpus']} CPUs)")


def print_report(names, stats, ratios, args, meta):
    print()
    print(f"docker run --rm --network none {meta['image']} true: {args.rounds} rounds after "
          f"{args.warmup} warmup, runtime order rotated each round")
    print(f"  dockerd {meta['dockerd']} (private: {RUN_DIR}, {DATA_DIR}; cgroup parent "
          f"{CGROUP_PARENT}; cgroup2 unmounted: {', '.join(meta['cgroup2_unmounted']) or 'none'})"
          f", client {meta['client']}")
    for n in names:
        print(f"  {n:<14} {meta['versions'][n]}  ({meta['paths'][n]})")
    print(load_line(meta))
    print()
    print(f"{'runtime':<16}{'median':>10}{'p90':>10}{'min':>10}{'max':>10}")
    for n in names:
        s = stats[n]
        print(f"{n:<16}" + "".join(f"{s[k] * 1000:>7.1f} ms" for k in ("median", "p90", "min",
                                                                        "max")))
    if ratios:
        print()
        print(f"{'ratio':<16}{'median':>10}{'p90':>10}{'per-round':>12}")
        for key, r in ratios.items():
            a, b = key.split("/")
            print(f"{short(a) + '/' + short(b):<16}{r['median']:>10.3f}{r['p90']:>10.3f}"
                  f"{r['per_round_median']:>12.3f}")
        print("  (median, p90: ratio of the two runtimes' values; per-round: median over rounds "
              "of the ratio within a round)")
    print()
    parts = [f"{short(n)} {stats[n]['median'] * 1000:.1f} ms" for n in names]
    tail = ", ".join(f"{short(k.split('/')[0])}/{short(k.split('/')[1])} {r['median']:.3f}"
                     for k, r in ratios.items())
    print("SUMMARY docker run medians: " + ", ".join(parts) + (f"; ratios {tail}" if tail else ""))
    key = f"{SYSVISOR}/runc"
    if key in ratios:
        got = ratios[key]["median"]
        crun = ratios.get("crun/runc")
        print(f"issue target: sysvisor/runc <= {TARGET:.2f}, system container vs plain "
              f"(crun/runc reaches ~{CRUN_HERE:.2f} "
              f"on this host): this run {got:.3f}, {'met' if got <= TARGET else 'not met'}"
              + (f" (crun/runc {crun['median']:.3f})" if crun else ""))


# --- main -----------------------------------------------------------------------------------

def parse_args(argv, doc=__doc__, rounds=30, warmup=3):
    """The flags of a Docker bench (this one, engine_view.py with its own defaults)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtimes", default="sysvisor,runc,crun",
                   help="comma-separated: sysvisor (--sysvisor through a sysvisor-runc symlink), "
                        "runc (dockerd's built-in), crun (/usr/bin/crun), or another runtime's "
                        "name or path (default: %(default)s)")
    p.add_argument("--sysvisor", default="build/sysvisor",
                   help="sysvisor binary (default: %(default)s, relative to cwd or repo root)")
    p.add_argument("--rounds", type=int, default=rounds, help=f"timed rounds (default {rounds})")
    p.add_argument("--warmup", type=int, default=warmup,
                   help=f"untimed rounds first (default {warmup})")
    p.add_argument("--json", metavar="FILE", help="also write all samples and statistics here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        p.error("rounds must be >= 1, warmup >= 0")
    return args


def version_of(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
        return out.splitlines()[0].strip() if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def enter(argv, args, script, inner_env):
    """The common start of a Docker bench (this one, engine_view.py): root, --json made
    absolute, re-executed in a private mount namespace (lifecycle.py), SIGTERM and SIGHUP raised
    as KeyboardInterrupt so that cleanup runs. Returns the progress printer (--quiet)."""
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    if args.json:
        # Relative to where the bench was started (the re-exec keeps the cwd, but be explicit).
        argv = [a for a in argv if not a.startswith("--json=")]
        if "--json" in argv:
            i = argv.index("--json")
            del argv[i:i + 2]
        argv += ["--json", os.path.abspath(args.json)]
    lifecycle.reexec_in_private_mount_ns(argv, script=script, inner_env=inner_env)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    return (lambda msg: None) if args.quiet else (
        lambda msg: print(f"  .. {msg}", file=sys.stderr, flush=True))


def main(argv):
    args = parse_args(argv)
    progress = enter(argv, args, __file__, INNER_ENV)

    workdir = tempfile.mkdtemp(prefix=NAME_PREFIX)
    spawner = Spawner(workdir)
    env = None
    rc = 0
    try:
        dropped = drop_unified_hierarchy()
        if dropped:
            progress(f"private mount namespace: unmounted {', '.join(dropped)}")
        os.makedirs(RUN_DIR, exist_ok=True)
        runtimes = resolve_runtimes(args.runtimes, args.sysvisor)
        paths = dict(runtimes)
        runc = shutil.which("runc") or "runc"
        paths["runc"] = paths.get("runc") or runc
        sysvisor_link = paths.get(SYSVISOR)
        e2e = import_e2e(sysvisor_link or runc, probe_for(sysvisor_link))
        meta = {"kernel": platform.release(), "cpus": os.cpu_count(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "rounds": args.rounds, "warmup": args.warmup, "cgroup2_unmounted": dropped,
                "paths": {n: os.path.realpath(paths[n]) for n, _ in runtimes},
                "versions": {n: version_of(paths[n]) for n, _ in runtimes}}
        env, image = start_docker(e2e, runtimes, meta, progress)

        names = [n for n, _ in runtimes]
        runner = Runner(e2e.DOCKER, image, spawner)
        samples = {n: [] for n in names}
        meta["loadavg_start"] = os.getloadavg()
        interleave(names, args.warmup, runner, None, "warmup", progress)
        interleave(names, args.rounds, runner, samples, "round", progress)
        meta["loadavg_end"] = os.getloadavg()

        names, stats, ratios = summarize(samples)
        print_report(names, stats, ratios, args, meta)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"meta": meta, "stats": stats, "ratios": ratios, "samples": samples},
                          f, indent=1)
            print(f"results written to {args.json}")
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    except (BenchError, RuntimeError, AssertionError) as e:
        # RuntimeError/AssertionError: e2e's failed command or daemon start, with its output.
        print(f"bench: {e}", file=sys.stderr)
        rc = 1
    finally:
        # A second Ctrl-C must not leave containers or the daemon behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        rc = cleanup(env, spawner, workdir) or rc
    return rc


def parse_round_args(doc, argv, rounds, warmup):
    """--sysvisor, --rounds and --warmup, for the benches built on this one; doc's first
    paragraph is the description."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--sysvisor", default="build/sysvisor",
                   help="sysvisor binary (default: %(default)s, relative to cwd or repo root)")
    p.add_argument("--rounds", type=int, default=rounds, help=f"timed rounds (default {rounds})")
    p.add_argument("--warmup", type=int, default=warmup,
                   help=f"untimed rounds first (default {warmup})")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        p.error("rounds must be >= 1, warmup >= 0")
    return args


def with_private_dockerd(sysvisor, body):
    """For the benches built on this one (dind_run.py, systemd_boot.py): runs body(e2e, env,
    spawner) with this bench's private dockerd (sysvisor-runc from the binary `sysvisor`, and
    runc registered; private sysvisor-mgr and sysvisor-fs), then cleans up as main does.
    Returns the exit code: 1 for a BenchError (printed), 130 for an interrupt."""
    if os.geteuid() != 0:
        sys.exit("bench: must run as root")
    workdir = tempfile.mkdtemp(prefix=NAME_PREFIX)
    spawner = Spawner(workdir)
    env = None
    rc = 0
    try:
        link = resolve_sysvisor(sysvisor)[1]
        e2e = import_e2e(link, probe_for(link))
        os.makedirs(RUN_DIR, exist_ok=True)
        env = start_dockerd(e2e, [(SYSVISOR, link), ("runc", None)])
        body(e2e, env, spawner)
    except KeyboardInterrupt:
        rc = 130
    except (BenchError, RuntimeError, AssertionError) as e:
        print(f"bench: {e}", file=sys.stderr)
        rc = 1
    finally:
        rc = cleanup(env, spawner, workdir) or rc
    return rc


def cleanup(env, spawner, workdir):
    spawner.reap_inflight()
    rc = 0
    if env is not None:
        try:
            if env.daemon.proc is not None and env.daemon.proc.poll() is None:
                remove_containers(env)
        except (AssertionError, OSError) as e:
            print(f"bench: removing {NAME_PREFIX} containers failed: {e}", file=sys.stderr)
        env.stop()
        import e2e
        if e2e.FS is not None:
            e2e.FS.stop()
        if e2e.MGR is not None:
            e2e.MGR.stop()
        left = e2e.processes_with(RUN_DIR)
        if left:
            print("bench: processes left behind:\n  " + "\n  ".join(left), file=sys.stderr)
            rc = 1
        # dockerd removes the container cgroups but not the parent it made in each hierarchy.
        for point, fs in cgroup_mounts():
            parent = os.path.join(point, CGROUP_PARENT)
            if fs in ("cgroup", "cgroup2") and os.path.isdir(parent):
                try:
                    os.rmdir(parent)
                except OSError as e:
                    print(f"bench: cgroup {parent} left: {e.strerror}", file=sys.stderr)
                    rc = 1
    shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
