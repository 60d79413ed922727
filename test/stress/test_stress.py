"""Load on system containers (root, no Docker; issue 10): real bundles through sysvisor-runc
with a private sysvisor-mgr and sysvisor-fs (test/integration/test_syscont.py's daemons).

  test_1_hundred_at_once     100 system containers running at once, created 10 at a time in
                             parallel; each reads sysvisor-fs's files once (its own uptime, its
                             memory limit as MemTotal); disjoint id ranges; then all deleted and
                             nothing left (state, mounts, cgroups, fs registrations, mgr ranges).
  test_2_create_delete_cycles  SV_STRESS_CYCLES (1000) sequential create/start/delete cycles,
                             each with a new id and rootfs (as `docker run --rm` makes them):
                             both daemons' fds, RSS, threads and mounts flat between a warm-up
                             (cycle 50) and the end.
  test_3_proc_read_storm     50 system containers reading the emulated /proc and /sys files in
                             a tight loop for SV_STRESS_STORM_SECONDS (20) at once: no error,
                             sane texts, and the daemons no bigger after the storm than after
                             a short warm-up storm.

The whole module runs in a private mount namespace of its own (daemons, runtime and
containers): its mount counts are exact even while other tests mount things on the host, and
nothing it mounts can leak onto the host. Container ids start with `svld-`. Every figure is
printed on lines starting with `stress:`.
"""

import collections
import concurrent.futures
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

CYCLES = int(os.environ.get("SV_STRESS_CYCLES", "1000"))
AT_ONCE = int(os.environ.get("SV_STRESS_AT_ONCE", "100"))
PARALLEL = 10
STORM_CONTAINERS = int(os.environ.get("SV_STRESS_STORM_CONTAINERS", "50"))
STORM_SECONDS = float(os.environ.get("SV_STRESS_STORM_SECONDS", "20"))
WARMUP_CYCLE = 50
MEMORY_LIMIT = 256 << 20  # every container's: its /proc/meminfo says MemTotal 262144 kB
# RSS a daemon may gain from the warm-up to the end. A leak of one registration (a Container
# with its maps and cgroup fds, its node table entries, an RPC connection's buffers) is a few
# KiB, so 950 cycles of it pass 4 MiB; malloc's own drift (arenas of the FUSE workers, a
# fragmented heap) stays well below.
RSS_SLACK_KB = 4096
READER = os.environ.get("SV_STRESS_READER") or os.path.join(
    os.environ.get("SV_BUILD_DIR", "build"), "test", "stress", "sv-stress-reader")


def _private_mount_namespace():
    """Moves this (still single-threaded) process into a mount namespace of its own, with
    nothing propagating to or from the host's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        sys.exit(f"test_stress: unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)


_private_mount_namespace()


def _mount_lines(pid="self"):
    with open(f"/proc/{pid}/mountinfo") as f:
        return collections.Counter(" ".join(l.split()[4:5] + l.split(" - ")[1:])
                                   for l in f.read().splitlines())


# The host's mounts copied into the namespace. Another test on the host may remove a directory
# one of them sits on, which unmounts it here too: those may go, nothing else may change.
INHERITED_MOUNTS = _mount_lines()
# meson's timeout sends SIGTERM: unwind, so atexit deletes the containers and stops the daemons.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import test_syscont as sc  # noqa: E402  (starts the private mgr and fs, sets the runtime flags)
import svtest  # noqa: E402

MGR, FS = sc.MGR, sc.FS
_ids_made = []  # every id this module created, for the cgroup scan and the emergency cleanup


def _emergency_cleanup():
    root = svtest.module_root()
    if os.path.isdir(root):
        for name in os.listdir(root):
            if name.startswith("svld-"):
                svtest.run_argv([svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", root, "delete",
                                 "--force", name], timeout=15)


import atexit  # noqa: E402

atexit.register(_emergency_cleanup)  # runs before the daemons stop (atexit is LIFO)


def say(msg):
    print(f"stress: {msg}", flush=True)


# -- measuring the daemons ------------------------------------------------------------------

def fd_targets(pid):
    """What a process's fds are (readlink), counted: for the message when their number grows."""
    out = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[os.readlink(f"/proc/{pid}/fd/{fd}")] += 1
        except OSError:
            pass
    return out


def proc_stats(pid):
    """fds, RSS (kB), threads and mount count of a process, and what the fds and mounts are."""
    st = {"fds": len(os.listdir(f"/proc/{pid}/fd")), "fd_targets": fd_targets(pid)}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "VmRSS":
                st["rss_kb"] = int(v.split()[0])
            elif k == "Threads":
                st["threads"] = int(v)
    st["mount_lines"] = _mount_lines(pid)
    st["mounts"] = sum(st["mount_lines"].values())
    return st


def growth(before, after, n):
    """What `n`'s fds gained between two samples, for assertion messages."""
    fds = after[n]["fd_targets"] - before[n]["fd_targets"]
    return f"new fds {dict(fds)}"


def daemons():
    return {"mgr": MGR.proc.pid, "fs": FS.proc.pid}


def sample():
    """Both daemons' figures and the mount count of this namespace (the daemons' too: they
    run in it; reported apart should that ever change)."""
    out = {name: proc_stats(pid) for name, pid in daemons().items()}
    out["ns"] = {"mount_lines": _mount_lines(), "fd_targets": collections.Counter()}
    out["ns_mounts"] = sum(out["ns"]["mount_lines"].values())
    return out


def mounts_changed(before, after):
    """Mounts that came or went (of both daemons and this namespace) between two samples, but
    for inherited ones that went; {} when flat."""
    out = {}
    for n in ("mgr", "fs", "ns"):
        came = after[n]["mount_lines"] - before[n]["mount_lines"]
        went = before[n]["mount_lines"] - after[n]["mount_lines"] - INHERITED_MOUNTS
        if came or went:
            out[n] = {"came": dict(came), "went": dict(went)}
    return out


def fmt_sample(s):
    return ", ".join(f"{n} fds={s[n]['fds']} rss={s[n]['rss_kb']}kB threads={s[n]['threads']} "
                     f"mounts={s[n]['mounts']}" for n in ("mgr", "fs")) + \
        f", namespace mounts={s['ns_mounts']}"


def settle(want, timeout=5.0):
    """Samples until fds, threads and mounts are back at `want`'s (an RPC connection or a
    worker being torn down is not a leak), or the timeout; returns the last sample."""
    deadline = time.monotonic() + timeout
    while True:
        s = sample()
        same = not mounts_changed(want, s) and all(
            s[n][k] <= want[n][k] for n in ("mgr", "fs") for k in ("fds", "threads"))
        if same or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def svld_cgroups():
    """Cgroup directories named svld-… under each hierarchy's root or this process's cgroup."""
    found = []
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in (ctrls.split(",") if ctrls else ["unified"]):
                own[c.replace("name=", "")] = path
    for ctrl in os.listdir("/sys/fs/cgroup"):
        for parent in {os.path.join("/sys/fs/cgroup", ctrl),
                       os.path.join("/sys/fs/cgroup", ctrl, own.get(ctrl, "/").lstrip("/"))}:
            try:
                found += [os.path.join(parent, e) for e in os.listdir(parent)
                          if e.startswith("svld-")]
            except OSError:
                pass
    return sorted(set(found))


def fs_registrations():
    return [i for i in FS.ids() if i.startswith("svld-")]


def mgr_entries():
    return {c["id"]: c for c in MGR.status()["containers"] if c["id"].startswith("svld-")}


def wait_exit(pid, timeout):
    """Waits for a process that is not our child (a container's init) to end."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


class StressTest(svtest.ContainerTest):
    """Bundles are hardlinked copies (`cp -al`, ~10 ms) of one template: the test rootfs plus
    /stress-reader and a /go directory."""

    @classmethod
    def setUpClass(cls):
        cls.template_dir = tempfile.mkdtemp(prefix="svld-tmpl-")
        os.chmod(cls.template_dir, 0o755)
        cls.template = os.path.join(cls.template_dir, "rootfs")
        subprocess.run(["cp", "-a", svtest.rootfs_template(), cls.template], check=True)
        os.remove(os.path.join(cls.template, ".svit-stamp"))
        shutil.copy2(READER, os.path.join(cls.template, "stress-reader"))
        os.chmod(os.path.join(cls.template, "stress-reader"), 0o755)
        os.mkdir(os.path.join(cls.template, "go"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.template_dir, ignore_errors=True)

    def new_id(self, tag="c"):
        cid = f"svld-{tag}-{os.getpid():x}-{len(_ids_made)}"
        _ids_made.append(cid)
        self.ids.append(cid)
        return cid

    def make_bundle(self, name, args, memory=True, go=None):
        """A bundle dir `name` under the test's tmp with its own rootfs (hardlinks)."""
        path = os.path.join(self.tmp, name)
        os.makedirs(path)
        subprocess.run(["cp", "-al", self.template, os.path.join(path, "rootfs")], check=True)
        spec = svtest.default_spec()
        spec["process"]["terminal"] = False
        spec["process"]["args"] = list(args)
        spec["root"]["readonly"] = False
        if memory:
            spec["linux"]["resources"]["memory"] = {"limit": MEMORY_LIMIT}
        if os.environ.get("SV_STRESS_FILES"):  # the reader's files, when looking for a culprit
            spec["process"]["env"].append(f"STRESS_READER_FILES={os.environ['SV_STRESS_FILES']}")
        if go:
            spec["mounts"].append({"destination": "/go", "type": "bind", "source": go,
                                   "options": ["rbind", "ro"]})
        return svtest.Bundle(path, spec).save()

    def rt(self, *args, timeout=60):
        return svtest.run_argv([svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", self.root, *args],
                               timeout=timeout)

    def create_start(self, b, cid, out):
        """create (stdout/stderr to files the container inherits) and start; returns the init
        pid. Raises AssertionError with the runtime's message on failure."""
        argv = [svtest.RUNC, *svtest.GLOBAL_ARGS, "--root", self.root, "create", "--bundle",
                b.path, "--pid-file", out + ".pid", cid]
        with open(out, "w") as o, open(out + ".err", "w") as e:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=60)
        if p.returncode != 0:
            raise AssertionError(f"create {cid}: exit {p.returncode}: {svtest.read_text(out + '.err')}")
        r = self.rt("start", cid)
        if r.rc != 0:
            raise AssertionError(f"start {cid}: {r!r}")
        with open(out + ".pid") as f:
            return int(f.read())

    def delete(self, cid, force=True):
        r = self.rt("delete", *(["--force"] if force else []), cid)
        if r.rc != 0:
            raise AssertionError(f"delete {cid}: {r!r}")
        self.ids.remove(cid)

    def wait_line(self, path, timeout=60, count=1):
        """The first `count` lines a container printed to `path`."""
        deadline = time.monotonic() + timeout
        while True:
            with open(path) as f:
                lines = f.read().splitlines()
            if len(lines) >= count:
                return lines[:count]
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {count} lines never came, got {lines!r}; "
                                     f"stderr {svtest.read_text(path + '.err')!r}")
            time.sleep(0.02)

    def parallel(self, fn, items):
        """fn over items, PARALLEL at a time; re-raises the first failure after all ran."""
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            futures = [pool.submit(fn, i) for i in items]
            results = [f.exception() or f.result() for f in futures]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise AssertionError(f"{len(errors)} of {len(items)} failed; first: {errors[0]}")
        return results

    def assert_nothing_left(self, before):
        """No state, host mount, cgroup, fs registration or mgr range of ours; both daemons
        back to `before`'s fds, threads and mounts."""
        self.check_clean()
        self.assertEqual(svld_cgroups(), [])
        self.assertEqual(fs_registrations(), [])
        self.assertEqual(os.listdir(os.path.join(FS.paths["run"], "fs", "containers")), [])
        # Each rootfs is gone: mgr frees the ranges (and stores) of containers whose rootfs is.
        self.assertEqual(list(mgr_entries()), [])
        after = settle(before)
        say(f"after:  {fmt_sample(after)}")
        for n in ("mgr", "fs"):
            for k in ("fds", "threads"):
                self.assertLessEqual(after[n][k], before[n][k],
                                     f"{n} {k}: {growth(before, after, n)}")
        self.assertEqual(mounts_changed(before, after), {})

    # ----------------------------------------------------------------------------------------

    def test_1_hundred_at_once(self):
        t0 = time.monotonic()
        before = self.warmed_up()
        say(f"{AT_ONCE} at once, before: {fmt_sample(before)}")
        jobs = []
        for i in range(AT_ONCE):
            b = self.make_bundle(f"b{i}", ["/stress-reader", "hold", str(MEMORY_LIMIT >> 10)])
            jobs.append((b, self.new_id("many"), os.path.join(self.tmp, f"out{i}")))

        def up(job):
            b, cid, out = job
            t = time.monotonic()
            pid = self.create_start(b, cid, out)
            line = self.wait_line(out)[0]
            return cid, pid, line, time.monotonic() - t

        t1 = time.monotonic()
        results = self.parallel(up, jobs)
        t_up = time.monotonic() - t1
        for cid, pid, line, _ in results:
            kv = svtest.parse_kv(line.replace(" ", "\n"))
            self.assertEqual(kv.get("ok"), "1", f"{cid}: {line}")
            self.assertEqual(int(kv["memtotal"]), MEMORY_LIMIT >> 10, cid)
            self.assertLess(float(kv["uptime"]), 300, cid)
        # All running at once, each in its own range, all registered with both daemons.
        during = sample()
        states = {cid: self.rt("state", cid) for cid, *_ in results}
        for cid, r in states.items():
            self.assertEqual(r.rc, 0, r)
            self.assertEqual(json.loads(r.out)["status"], "running", cid)
        ranges = []
        for cid, pid, _, _ in results:
            with open(f"/proc/{pid}/uid_map") as f:
                inside, base, size = map(int, f.read().split())
            self.assertEqual((inside, size), (0, sc.BLOCK))
            ranges.append((base, base + size))
        ranges.sort()
        self.assertEqual(len(ranges), AT_ONCE)
        for (a0, a1), (b0, _) in zip(ranges, ranges[1:]):
            self.assertLessEqual(a1, b0, "overlapping id ranges")
        mgr = mgr_entries()
        self.assertEqual(sorted(mgr), sorted(cid for cid, *_ in results))
        self.assertEqual(sorted((e["uidBase"], e["uidBase"] + e["size"]) for e in mgr.values()),
                         ranges)
        self.assertEqual(sorted(fs_registrations()), sorted(cid for cid, *_ in results))
        say(f"{AT_ONCE} running: {fmt_sample(during)}")
        say(f"{AT_ONCE} created+started+verified in {t_up:.1f}s, {PARALLEL} at a time "
            f"({AT_ONCE / t_up:.1f}/s; slowest {max(r[3] for r in results):.2f}s)")

        t2 = time.monotonic()
        self.parallel(lambda r: self.delete(r[0]), results)
        t_down = time.monotonic() - t2
        say(f"{AT_ONCE} deleted in {t_down:.1f}s, {PARALLEL} at a time")
        for b, _, _ in jobs:
            shutil.rmtree(b.path)
        self.assert_nothing_left(before)
        say(f"test_1 wall time {time.monotonic() - t0:.1f}s")

    def test_2_create_delete_cycles(self):
        t0 = time.monotonic()
        before = self.warmed_up()
        say(f"{CYCLES} cycles, before: {fmt_sample(before)}")
        out = os.path.join(self.tmp, "cycle.out")
        marks = {}
        phase = {"create+start": 0.0, "run": 0.0, "delete": 0.0, "bundle": 0.0}
        trash = os.path.join(self.tmp, "trash")
        os.mkdir(trash)
        t_loop = time.monotonic()
        for i in range(1, CYCLES + 1):
            t = time.monotonic()
            # Even cycles end by themselves and are deleted; odd ones are deleted running
            # (`docker rm -f`). A new id and rootfs each time, as `docker run --rm` has them.
            args = (["/probe", "cat", "/proc/uptime"] if i % 2 == 0 else
                    ["/bin/sh", "-c", "/probe cat /proc/uptime; exec /probe sleep 600"])
            b = self.make_bundle(f"c{i}", args, memory=(i % 4 < 2))
            cid = self.new_id("cyc")
            t1 = time.monotonic()
            pid = self.create_start(b, cid, out)
            t2 = time.monotonic()
            up = float(self.wait_line(out, timeout=30)[0].split()[0])
            self.assertLess(up, 60, f"cycle {i}: not the container's uptime")
            if i % 2 == 0:
                self.assertTrue(wait_exit(pid, 30), f"cycle {i}: the init did not exit")
            t3 = time.monotonic()
            self.delete(cid, force=(i % 2 == 1))
            t4 = time.monotonic()
            # The rootfs goes (renamed away now, removed in bulk): mgr may free the range.
            os.rename(b.path, os.path.join(trash, f"c{i}"))
            if i % 100 == 0:
                subprocess.run(["rm", "-rf", trash], check=True)
                os.mkdir(trash)
            t5 = time.monotonic()
            phase["bundle"] += (t1 - t) + (t5 - t4)
            phase["create+start"] += t2 - t1
            phase["run"] += t3 - t2
            phase["delete"] += t4 - t3
            if i in (WARMUP_CYCLE, CYCLES // 2, CYCLES):
                marks[i] = settle(marks.get(WARMUP_CYCLE, sample()), timeout=3)
                say(f"cycle {i}: {fmt_sample(marks[i])} "
                    f"({i / (time.monotonic() - t_loop):.2f} cycles/s so far)")
        elapsed = time.monotonic() - t_loop
        say(f"{CYCLES} cycles in {elapsed:.1f}s: {CYCLES / elapsed:.2f} cycles/s, "
            f"{1000 * elapsed / CYCLES:.0f} ms each (" +
            ", ".join(f"{k} {1000 * v / CYCLES:.0f}" for k, v in phase.items()) + " ms)")
        warm, end = marks[WARMUP_CYCLE], marks[CYCLES]
        for n in ("mgr", "fs"):
            d = {k: end[n][k] - warm[n][k] for k in ("fds", "rss_kb", "threads", "mounts")}
            say(f"{n} from cycle {WARMUP_CYCLE} to {CYCLES}: fds {d['fds']:+d}, "
                f"RSS {d['rss_kb']:+d} kB, threads {d['threads']:+d}, mounts {d['mounts']:+d}")
            self.assertLessEqual(d["fds"], 0, f"{n} fds grew: {growth(warm, end, n)}")
            self.assertLessEqual(d["threads"], 0, f"{n} threads grew")
            self.assertLess(d["rss_kb"], RSS_SLACK_KB, f"{n} RSS grew")
        self.assertEqual(mounts_changed(warm, end), {})
        # The fs daemon's node log is rewritten as containers go: it stays small.
        with open(os.path.join(FS.paths["run"], "fs", "nodes.log")) as f:
            nodes = sum(1 for _ in f)
        say(f"fs nodes.log: {nodes} lines after {CYCLES} cycles")
        self.assertLess(nodes, 1000)
        subprocess.run(["rm", "-rf", trash], check=True)
        self.assert_nothing_left(before)
        say(f"test_2 wall time {time.monotonic() - t0:.1f}s")

    # -- storms --------------------------------------------------------------------------------

    def storm_up(self, count, rounds, tag):
        """`count` containers running /stress-reader storm with a round of each length in
        `rounds`, each round started by the host (a file in their /go); returns the storm."""
        go = os.path.join(self.tmp, f"go-{tag}")
        os.mkdir(go)
        os.chmod(go, 0o755)
        jobs = []
        for i in range(count):
            b = self.make_bundle(f"{tag}{i}", ["/stress-reader", "storm", str(MEMORY_LIMIT >> 10),
                                               *map(str, rounds)], go=go)
            jobs.append((b, self.new_id(tag), os.path.join(self.tmp, f"{tag}{i}.out")))
        pids = self.parallel(lambda j: self.create_start(*j), jobs)
        return {"go": go, "jobs": jobs, "pids": pids, "rounds": rounds}

    def storm_round(self, storm, n):
        """Starts round n (from 1) in every container half a second from now; waits for all
        to report it; checks no read failed and every text made sense; returns the reads."""
        go, seconds = storm["go"], storm["rounds"][n - 1]
        start_ms = int(time.time() * 1000) + 500
        with open(os.path.join(go, f"{n}.tmp"), "w") as f:
            f.write(str(start_ms))
        os.rename(os.path.join(go, f"{n}.tmp"), os.path.join(go, str(n)))
        total = 0
        for _, cid, out in storm["jobs"]:
            line = self.wait_line(out, timeout=seconds + 60, count=n)[n - 1]
            kv = svtest.parse_kv(line.replace(" ", "\n"))
            self.assertEqual((kv["errors"], kv["bad"]), ("0", "0"), f"{cid}: {line}")
            self.assertEqual(kv["memtotal"], str(MEMORY_LIMIT >> 10), f"{cid}: {line}")
            self.assertGreater(int(kv["reads"]), 0, f"{cid}: {line}")
            total += int(kv["reads"])
        return total

    def storm_down(self, storm):
        """Every reader ends by itself after its last round; then deleted, rootfs removed."""
        for (_, cid, _), pid in zip(storm["jobs"], storm["pids"]):
            self.assertTrue(wait_exit(pid, 30), f"{cid}: the reader did not end")
        self.parallel(lambda j: self.delete(j[1], force=False), storm["jobs"])
        for b, _, _ in storm["jobs"]:
            shutil.rmtree(b.path)

    _warm = None

    def warmed_up(self):
        """Both daemons after a first short storm of PARALLEL containers (once per module):
        sysvisor-fs has its FUSE workers (a thread and a /dev/fuse clone each, up to
        --max-threads, kept for good) and its cache of open host /proc files by then; what
        the tests compare with."""
        if StressTest._warm is None:
            cold = sample()
            storm = self.storm_up(PARALLEL, [2.0], "warm")
            self.storm_round(storm, 1)
            self.storm_down(storm)
            StressTest._warm = settle(sample(), timeout=2)
            say(f"cold:      {fmt_sample(cold)}")
            say(f"warmed up: {fmt_sample(StressTest._warm)} "
                f"(fs: {growth(cold, StressTest._warm, 'fs')})")
        return StressTest._warm

    def test_3_proc_read_storm(self):
        t0 = time.monotonic()
        before = self.warmed_up()
        say(f"storm, before: {fmt_sample(before)}")
        warmup = 2.0
        storm = self.storm_up(STORM_CONTAINERS, [warmup, STORM_SECONDS], "storm")
        say(f"{STORM_CONTAINERS} storm containers up in {time.monotonic() - t0:.1f}s")
        self.storm_round(storm, 1)
        warm = settle(sample(), timeout=2)
        say(f"after a {warmup:.0f}s warm-up storm: {fmt_sample(warm)}")
        series, stop = [], threading.Event()

        def watch():
            t = time.monotonic()
            while not stop.wait(1.0):
                series.append((time.monotonic() - t, proc_stats(FS.proc.pid)["rss_kb"]))
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            total = self.storm_round(storm, 2)
        finally:
            stop.set()
            watcher.join()
        say("fs RSS during the storm (s: kB): " +
            ", ".join(f"{t:.0f}: {kb}" for t, kb in series[::max(1, len(series) // 12)]))
        after = settle(warm, timeout=5)
        say(f"after the {STORM_SECONDS:.0f}s storm: {fmt_sample(after)}")
        say(f"storm: {STORM_CONTAINERS} containers, {total} reads of 12 files in "
            f"{STORM_SECONDS:.0f}s: {total / STORM_SECONDS:.0f} reads/s, no error")
        for n in ("mgr", "fs"):
            self.assertLessEqual(after[n]["fds"], warm[n]["fds"],
                                 f"{n} fds grew: {growth(warm, after, n)}")
            self.assertLessEqual(after[n]["threads"], warm[n]["threads"], f"{n} threads grew")
            self.assertLess(after[n]["rss_kb"] - warm[n]["rss_kb"], RSS_SLACK_KB, f"{n} RSS grew")
        self.assertEqual(mounts_changed(warm, after), {})
        self.storm_down(storm)
        self.assert_nothing_left(before)
        say(f"test_3 wall time {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    t_start = time.monotonic()
    say(f"start: {fmt_sample(sample())}")
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    say(f"end:   {fmt_sample(settle(sample(), timeout=1))}")
    say(f"suite wall time {time.monotonic() - t_start:.1f}s")
    left = [e for e in os.listdir(svtest.module_root()) if e != ".seccomp-cache"]
    shutil.rmtree(svtest.module_root(), ignore_errors=True)
    if left:
        print(f"stress: --root not empty: {left}")
    sys.exit(0 if prog.result.wasSuccessful() and not left else 1)
