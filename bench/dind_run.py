#!/usr/bin/env python3
"""Docker inside a system container: `docker run --rm --network none <busybox> true` by the
inner dockerd of a sysvisor system container, against the same command on the host with runc.

One private dockerd (docker_run.py's, with its directories) runs a system container of e2e's
docker.io image (sysvisor-runc, private sysvisor-mgr and sysvisor-fs); inside it an inner
dockerd (`--bridge=none --iptables=false`, overlay2 in mgr's store) gets the busybox image.
Each round runs the host command once (timed from here) and the inner one once (timed inside
the system container, so `docker exec` itself does not count), in alternating order. Prints
medians, p90 and the ratio inner/host. Not a test: nothing fails on a time. Needs root.
"""

import os
import statistics
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, BENCH_DIR)
import docker_run  # noqa: E402
from lifecycle import BenchError  # noqa: E402

OUTER = docker_run.NAME_PREFIX + "dind-outer"


def parse_args(argv):
    return docker_run.parse_round_args(__doc__, argv, rounds=20, warmup=2)


def inner_once(env):
    script = ("s=$(date +%s%N); docker run --rm --network none inner:1 true || exit 1; "
              "e=$(date +%s%N); echo $((e - s))")
    r = env.docker("exec", OUTER, "sh", "-c", script, timeout=120)
    if r.rc != 0:
        raise BenchError(f"inner docker run failed: {r.err.strip()}")
    return int(r.out.strip()) / 1e9


def host_once(env, image, spawner, n):
    argv = [env.docker_bin, "run", "--rm", "--network", "none", "--runtime", "runc", "--name",
            f"{docker_run.NAME_PREFIX}dind-host-{n}", image, "true"]
    res = spawner.run(argv)
    if res.code != 0:
        raise BenchError(f"`{' '.join(argv)}` exited {res.code}: {res.err.strip()}")
    return res.seconds


def measure(args, e2e, env, spawner):
    env.docker_bin = e2e.DOCKER
    os.environ.pop("DOCKER_CONTEXT", None)
    os.environ["DOCKER_HOST"] = env.host
    os.environ["DOCKER_CONFIG"] = env.env["DOCKER_CONFIG"]
    busybox = env.ensure_busybox_image()
    print("  .. the docker.io image (debootstrap, cached)", file=sys.stderr, flush=True)
    dind = env.ensure_dind_image()
    docker_run.remove_containers(env)
    r = env.docker("run", "-d", "--name", OUTER, "--runtime", docker_run.SYSVISOR,
                   "--network", "none", dind, "sleep", "infinity")
    if r.rc != 0:
        raise BenchError(f"the system container did not start: {r.err.strip()}")
    env.docker("exec", "-d", OUTER, "sh", "-c",
               "dockerd --bridge=none --iptables=false >/var/log/inner-dockerd.log 2>&1")
    e2e.wait_for(lambda: env.docker("exec", OUTER, "docker", "info").rc == 0, 90,
                 "the inner dockerd")
    with e2e.busybox_tarball() as tar:
        env.docker("cp", tar, f"{OUTER}:/tmp/inner.tar", check=True)
    env.docker("exec", OUTER, "docker", "import", "/tmp/inner.tar", "inner:1", check=True)
    samples = {"host runc": [], "inner docker": []}
    for r in range(args.warmup + args.rounds):
        order = [("host runc", lambda: host_once(env, busybox, spawner, r)),
                 ("inner docker", lambda: inner_once(env))]
        if r % 2:
            order.reverse()
        for name, fn in order:
            t = fn()
            if r >= args.warmup:
                samples[name].append(t)
    med = {n: statistics.median(v) * 1000 for n, v in samples.items()}
    p90 = {n: sorted(v)[int(0.9 * (len(v) - 1))] * 1000 for n, v in samples.items()}
    print(f"docker run --rm --network none busybox true, {args.rounds} rounds:")
    for n in samples:
        print(f"  {n:<13} median {med[n]:7.1f} ms   p90 {p90[n]:7.1f} ms")
    ratio = med["inner docker"] / med["host runc"]
    print(f"SUMMARY inner docker (sysvisor system container) / host runc: {ratio:.2f}")


def main(argv):
    args = parse_args(argv)
    return docker_run.with_private_dockerd(
        args.sysvisor, lambda e2e, env, spawner: measure(args, e2e, env, spawner))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
