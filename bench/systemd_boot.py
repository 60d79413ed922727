#!/usr/bin/env python3
"""systemd as init: time from `docker run -d` to `systemctl is-system-running --wait` answering,
and the time `docker stop` takes, for e2e's systemd image (Debian bookworm with systemd, dbus,
docker.io, openssh-server, cron; CMD /sbin/init, no STOPSIGNAL):
- sysvisor: `docker run --runtime sysvisor-runc -d --network none <image>`, no other flag;
- runc: the same image with the usual hand-made flags for systemd in a plain container
  (`--tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro`).

Both in the same private dockerd (docker_run.py's), alternating per round. Prints medians, p90,
the ratio sysvisor/runc and the state systemd reached (runc's ends `degraded` once its
docker.service has failed). Not a test: nothing fails on a time. Needs root.
"""

import os
import statistics
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, BENCH_DIR)
import docker_run  # noqa: E402
from lifecycle import BenchError  # noqa: E402

RUNC_FLAGS = ["--tmpfs", "/run", "--tmpfs", "/run/lock", "-v",
              "/sys/fs/cgroup:/sys/fs/cgroup:ro"]


def parse_args(argv):
    return docker_run.parse_round_args(__doc__, argv, rounds=5, warmup=1)


def boot_once(env, image, runtime, flags, name):
    """Seconds from `docker run` to systemd's answer, the answer, and `docker stop`'s seconds."""
    start = time.monotonic()
    r = env.docker("run", "-d", "--name", name, "--runtime", runtime, "--network", "none",
                   *flags, image, timeout=120)
    if r.rc != 0:
        raise BenchError(f"docker run ({runtime}) failed: {r.err.strip()}")
    state = ""
    while not state:
        # systemd's bus appears a moment after the start: until then systemctl says nothing.
        r = env.docker("exec", name, "systemctl", "is-system-running", "--wait", timeout=180)
        state = r.out.strip()
        if not state:
            if time.monotonic() - start > 180:
                raise BenchError(f"systemd under {runtime} never answered: {r.err.strip()}")
            time.sleep(0.02)
    booted = time.monotonic() - start
    # A moment later, for the units that fail after the boot finished (runc's docker.service).
    time.sleep(2)
    final = env.docker("exec", name, "systemctl", "is-system-running").out.strip() or state
    start = time.monotonic()
    env.docker("stop", name, timeout=120)
    stopped = time.monotonic() - start
    env.docker("rm", "-f", name, timeout=60)
    return booted, final, stopped


def measure(args, env):
    print("  .. the systemd image (debootstrap, cached)", file=sys.stderr, flush=True)
    image = env.ensure_systemd_image()
    docker_run.remove_containers(env)
    kinds = {"sysvisor": (docker_run.SYSVISOR, []), "runc": ("runc", RUNC_FLAGS)}
    boot = {k: [] for k in kinds}
    stop = {k: [] for k in kinds}
    states = {k: set() for k in kinds}
    for n in range(args.warmup + args.rounds):
        order = list(kinds)
        if n % 2:
            order.reverse()
        for k in order:
            runtime, flags = kinds[k]
            b, state, s = boot_once(env, image, runtime, flags,
                                    f"{docker_run.NAME_PREFIX}sd-{k}-{n}")
            if n >= args.warmup:
                boot[k].append(b)
                stop[k].append(s)
                states[k].add(state)

    def p90(v):
        return sorted(v)[int(0.9 * (len(v) - 1))]

    print(f"systemd boot (docker run -d .. is-system-running answers), {args.rounds} rounds:")
    for k in kinds:
        print(f"  {k:<9} median {statistics.median(boot[k]) * 1000:7.0f} ms   p90 "
              f"{p90(boot[k]) * 1000:7.0f} ms   state {'/'.join(sorted(states[k]))}")
    print("docker stop (default 10 s timeout):")
    for k in kinds:
        print(f"  {k:<9} median {statistics.median(stop[k]) * 1000:7.0f} ms   p90 "
              f"{p90(stop[k]) * 1000:7.0f} ms")
    ratio = statistics.median(boot["sysvisor"]) / statistics.median(boot["runc"])
    sratio = statistics.median(stop["sysvisor"]) / statistics.median(stop["runc"])
    print(f"SUMMARY boot sysvisor/runc: {ratio:.2f}   stop sysvisor/runc: {sratio:.2f}")


def main(argv):
    args = parse_args(argv)
    return docker_run.with_private_dockerd(args.sysvisor,
                                           lambda e2e, env, spawner: measure(args, env))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
