#!/usr/bin/env python3
"""linux.resources applied to the container's cgroups before its init runs: the limits are in
the host's cgroup files, visible inside, and enforced. `update` changes them in a running
container. A resource this host cannot give is a clear error that leaves nothing behind."""

import errno
import glob
import os
import time

import svtest
from svtest import ContainerTest, parse_kv


def host_knob(controller, cid, name):
    paths = glob.glob(f"/sys/fs/cgroup/{controller}/**/{cid}/{name}", recursive=True)
    assert len(paths) == 1, (controller, cid, name, paths)
    with open(paths[0]) as f:
        return f.read().strip()


def v1_controllers():
    """The controllers mounted as v1 hierarchies on this host."""
    out = set()
    for row in svtest.mountinfo():
        if row["fstype"] == "cgroup":
            out.update(o for o in row["super"] if o not in ("rw", "ro") and "=" not in o)
    return out


def cgroup2_controllers():
    """The controllers the host's cgroup2 hierarchy offers (hybrid: /sys/fs/cgroup/unified)."""
    for path in ("/sys/fs/cgroup/unified/cgroup.controllers", "/sys/fs/cgroup/cgroup.controllers"):
        if os.path.exists(path):
            with open(path) as f:
                return set(f.read().split())
    return set()


def kernel_controllers():
    with open("/proc/cgroups") as f:
        return {line.split()[0] for line in f if not line.startswith("#")}


def block_device():
    """major:minor of some block device of this host (throttles need a real one)."""
    for name in sorted(os.listdir("/sys/block")):
        with open(f"/sys/block/{name}/dev") as f:
            return f.read().strip()
    raise AssertionError("no block device")


class Resources(ContainerTest):
    def _bundle(self, resources, args):
        def mutate(s):
            s["linux"]["resources"].update(resources)
            if not any(n["type"] == "cgroup" for n in s["linux"]["namespaces"]):
                s["linux"]["namespaces"].append({"type": "cgroup"})
        return self.bundle(args=args, mutate=mutate)

    def _refused(self, resources, *words):
        """The container does not start, the error says why, and nothing is left behind."""
        r = self.run_container(self._bundle(resources, ["/probe", "id"]))
        self.assertNotEqual(r.rc, 0, r)
        for w in words:
            self.assertIn(w, r.err, r)
        self.check_clean()
        return r

    def test_limits_land_in_the_host_cgroup_files(self):
        b = self._bundle({"memory": {"limit": 64 << 20, "swappiness": 10},
                          "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                          "pids": {"limit": 20}}, ["/probe", "sleep", "1000"])
        cid = self.run_detached(b)
        self.assertEqual(host_knob("memory", cid, "memory.limit_in_bytes"), str(64 << 20))
        self.assertEqual(host_knob("memory", cid, "memory.swappiness"), "10")
        self.assertEqual(host_knob("cpu", cid, "cpu.shares"), "512")
        self.assertEqual(host_knob("cpu", cid, "cpu.cfs_quota_us"), "50000")
        self.assertEqual(host_knob("pids", cid, "pids.max"), "20")

    def test_cpu_burst_idle_and_realtime(self):
        b = self._bundle({"cpu": {"quota": 50000, "period": 100000, "burst": 10000, "idle": 1,
                                  "realtimePeriod": 1000000, "realtimeRuntime": 10000}},
                         ["/probe", "sleep", "1000"])
        cid = self.run_detached(b)
        self.assertEqual(host_knob("cpu", cid, "cpu.cfs_burst_us"), "10000")
        self.assertEqual(host_knob("cpu", cid, "cpu.idle"), "1")
        self.assertEqual(host_knob("cpu", cid, "cpu.rt_period_us"), "1000000")
        self.assertEqual(host_knob("cpu", cid, "cpu.rt_runtime_us"), "10000")

    def test_block_io_weight_and_throttles(self):
        dev = block_device()
        major, minor = (int(x) for x in dev.split(":"))
        res = {"blockIO": {
            "weight": 200,
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}}
        if "blkio" not in v1_controllers() and "io" not in cgroup2_controllers():
            self._refused(res, "blkio controller, which this host has not mounted")
            return
        cid = self.new_id("blk")
        r = self.runc("run", "--detach", "--bundle",
                      self._bundle(res, ["/probe", "sleep", "1000"]).path, cid)
        if r.rc != 0:
            # A kernel without CFQ or BFQ weights: the error names the files it looked for.
            self.assertIn("weight", r.err, r)
            self.check_clean()
            return
        if "blkio" in v1_controllers():
            weight = glob.glob(f"/sys/fs/cgroup/blkio/**/{cid}/blkio*.weight", recursive=True)
            self.assertEqual(len(weight), 1, weight)
            with open(weight[0]) as f:
                self.assertIn("200", f.read())
            self.assertIn(f"{dev} 1048576",
                          host_knob("blkio", cid, "blkio.throttle.read_bps_device"))
            self.assertIn(f"{dev} 100", host_knob("blkio", cid, "blkio.throttle.write_iops_device"))
        else:
            io_max = host_knob(".", cid, "io.max")
            self.assertIn("rbps=1048576", io_max)
            self.assertIn("wiops=100", io_max)

    def test_hugetlb_limit_or_a_clear_error(self):
        limits = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}
        if "hugetlb" in v1_controllers():
            cid = self.run_detached(self._bundle(limits, ["/probe", "sleep", "1000"]))
            self.assertEqual(host_knob("hugetlb", cid, "hugetlb.2MB.limit_in_bytes"),
                             str(4 << 20))
        elif "hugetlb" in cgroup2_controllers():
            # This host's hugetlb lives in the cgroup2 hierarchy only: v2 file names there.
            cid = self.run_detached(self._bundle(limits, ["/probe", "sleep", "1000"]))
            unified = "unified" if os.path.isdir("/sys/fs/cgroup/unified") else "."
            self.assertEqual(host_knob(unified, cid, "hugetlb.2MB.max"), str(4 << 20))
        else:
            self._refused(limits, "hugetlb controller, which this host has not mounted")

    def test_rdma_limit_or_a_clear_error(self):
        rdma = {"rdma": {"mlx5_0": {"hcaHandles": 2, "hcaObjects": 100}}}
        if "rdma" in kernel_controllers():
            # Without an RDMA device the kernel refuses the line; either way not silently.
            r = self.run_container(self._bundle(rdma, ["/probe", "id"]))
            if r.rc != 0:
                self.assertIn("rdma", r.err, r)
                self.check_clean()
        else:
            self._refused(rdma, "rdma controller, which this host has not mounted")

    def test_network_classid_where_present(self):
        net = {"network": {"classID": 0x100001, "priorities": [{"name": "lo", "priority": 3}]}}
        if "net_cls" in v1_controllers():
            cid = self.run_detached(self._bundle(net, ["/probe", "sleep", "1000"]))
            self.assertEqual(host_knob("net_cls", cid, "net_cls.classid"), str(0x100001))
        else:
            # Hierarchies without net_cls: refused (runc and crun too); pure cgroup v2 has no
            # equivalent and skips it (unit-tested).
            self._refused(net, "net_cls controller, which this host has not mounted")

    def test_unified_key_values_in_the_cgroup2_dir(self):
        unified = "unified" if os.path.isdir("/sys/fs/cgroup/unified") else "."
        cid = self.run_detached(self._bundle({"unified": {"cgroup.max.descendants": "3"}},
                                             ["/probe", "sleep", "1000"]))
        self.assertEqual(host_knob(unified, cid, "cgroup.max.descendants"), "3")

    def test_unified_missing_file_and_bad_key(self):
        if "memory" not in cgroup2_controllers():
            self._refused({"unified": {"memory.high": "64M"}},
                          "memory.high", "does not exist", "memory controller")
        self._refused({"unified": {"../cgroup.procs": "1"}}, "../cgroup.procs",
                      "is not a cgroup file name")

    def test_kernel_memory_is_ignored(self):
        r = self.run_container(self._bundle({"memory": {"kernel": 1 << 20, "kernelTCP": 1 << 20}},
                                            ["/probe", "id"]))
        self.assertEqual(r.rc, 0, r)

    def test_limit_visible_inside(self):
        b = self._bundle({"memory": {"limit": 32 << 20}},
                         ["/probe", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.strip(), str(32 << 20))

    def test_memory_limit_enforced(self):
        r = self.run_container(self._bundle({"memory": {"limit": 32 << 20}},
                                            ["/probe", "alloc", "64"]))
        self.assertEqual(r.rc, 128 + 9, f"64 MiB beyond a 32 MiB limit must be OOM-killed: {r!r}")
        r = self.run_container(self._bundle({"memory": {"limit": 128 << 20}},
                                            ["/probe", "alloc", "64"]))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.kv.get("allocated"), "64", r)

    def test_pids_limit_enforced(self):
        script = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /probe sleep 2 & done; echo forked"]
        r = self.run_container(self._bundle({"pids": {"limit": 6}}, script))
        self.assertNotEqual(r.rc, 0, f"pids.max 6 must stop the 10 forks: {r!r}")
        self.assertIn("fork", r.err)
        self.assertNotIn("forked", r.out)
        r = self.run_container(self._bundle({"pids": {"limit": 30}}, script))
        self.assertEqual(r.rc, 0, f"30 pids are enough for 11 processes: {r!r}")
        self.assertIn("forked", r.out)

    def test_bad_resources_leave_nothing(self):
        b = self._bundle({"memory": {"limit": "64m"}}, ["/probe", "id"])
        r = self.run_container(b)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("linux.resources.memory.limit", r.err)
        self.check_clean()

    def test_failed_write_after_create_removes_the_cgroups(self):
        # The cgroups exist when the knob write fails: create must take them down again.
        r = self._refused({"pids": {"limit": 5}, "cpu": {"cpus": "4095"}}, "cpuset.cpus")
        self.assertNotIn("panic", r.err)


class DevicesWithoutV1(ContainerTest):
    """A host without a v1 devices hierarchy (pure cgroup v2, or a hybrid host that lacks it):
    the rules become an eBPF program on the container's cgroup2 directory. The runtime runs in
    a mount namespace where /sys/fs/cgroup/devices is unmounted, so it sees such a host."""

    def _run_without_devices_v1(self, b):
        cid = self.new_id("bpf")
        script = ("umount /sys/fs/cgroup/devices 2>/dev/null; "
                  "! grep -q ' /sys/fs/cgroup/devices ' /proc/self/mountinfo || exit 99; "
                  'exec "$@"')
        return svtest.run_argv(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                script, "sh", svtest.RUNC, *svtest.GLOBAL_ARGS, "--root",
                                self.root, "run", "--bundle", b.path, cid])

    def _mknod_bundle(self, extra_rules=()):
        def mutate(s):
            for k in ("bounding", "effective", "permitted"):
                s["process"]["capabilities"][k].append("CAP_MKNOD")
            s["linux"]["resources"]["devices"] += list(extra_rules)
        return self.bundle(args=["sh", "-c", "/probe mknod-test /tmp/disk b 8 0; echo ---; "
                                 "/probe mknod-test /tmp/null c 1 3"], mutate=mutate)

    def test_bpf_program_denies_unlisted_devices(self):
        if not os.path.isdir("/sys/fs/cgroup/unified") and \
                not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.skipTest("no cgroup2 hierarchy")
        r = self._run_without_devices_v1(self._mknod_bundle())
        self.assertNotEqual(r.rc, 99, "could not hide the v1 devices hierarchy")
        disk, null = [parse_kv(c) for c in r.out.split("---\n")]
        self.assertEqual(disk.get("mknod"), "0", r)
        self.assertEqual(disk.get("open"), str(errno.EPERM), f"the program must deny 8:0: {r!r}")
        self.assertEqual((null.get("mknod"), null.get("open")), ("0", "0"), r)
        # The same with the disk allowed: the denial above came from the rules.
        r = self._run_without_devices_v1(self._mknod_bundle(
            [{"allow": True, "type": "b", "major": 8, "minor": 0, "access": "rwm"}]))
        disk = parse_kv(r.out.split("---\n")[0])
        self.assertNotEqual(disk.get("open"), str(errno.EPERM), r)
        self.check_clean()


class Update(ContainerTest):
    def test_update_flags_and_resources_file(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        self.runc_ok("update", "--memory", "48m", "--pids-limit", "9", "--cpu-share", "300", cid)
        self.assertEqual(host_knob("memory", cid, "memory.limit_in_bytes"), str(48 << 20))
        self.assertEqual(host_knob("pids", cid, "pids.max"), "9")
        self.assertEqual(host_knob("cpu", cid, "cpu.shares"), "300")
        r = self.runc("update", "--resources", "-", cid, input='{"pids": {"limit": 12}}')
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(host_knob("pids", cid, "pids.max"), "12")
        # With --resources the other flags are ignored (runc's rule).
        r = self.runc("update", "-r", "-", "--pids-limit", "99", cid,
                      input='{"pids": {"limit": 13}}')
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(host_knob("pids", cid, "pids.max"), "13")

    def test_every_runc_flag(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        # blkio weights exist only with the BFQ (or old CFQ) I/O scheduler; without one the
        # runtime must say so, and the other flags still apply.
        has_weight = bool(glob.glob("/sys/fs/cgroup/blkio/blkio*.weight"))
        weight_flag = ["--blkio-weight", "300"]
        if not has_weight:
            r = self.runc("update", *weight_flag, cid)
            self.assertNotEqual(r.rc, 0)
            self.assertIn("blkio.bfq.weight", r.err)
            weight_flag = []
        self.runc_ok("update", "--cpu-period", "50000", "--cpu-quota", "25000",
                     "--cpu-rt-period", "1000000", "--cpu-rt-runtime", "5000",
                     "--cpuset-cpus", "0", "--cpuset-mems", "0", "--memory", "128m",
                     "--memory-swap", "256m", "--memory-reservation", "16m",
                     "--pids-limit", "7", *weight_flag, cid)
        self.assertEqual(host_knob("cpu", cid, "cpu.cfs_period_us"), "50000")
        self.assertEqual(host_knob("cpu", cid, "cpu.cfs_quota_us"), "25000")
        self.assertEqual(host_knob("cpu", cid, "cpu.rt_period_us"), "1000000")
        self.assertEqual(host_knob("cpu", cid, "cpu.rt_runtime_us"), "5000")
        self.assertEqual(host_knob("cpuset", cid, "cpuset.cpus"), "0")
        self.assertEqual(host_knob("memory", cid, "memory.limit_in_bytes"), str(128 << 20))
        self.assertEqual(host_knob("memory", cid, "memory.memsw.limit_in_bytes"), str(256 << 20))
        self.assertEqual(host_knob("memory", cid, "memory.soft_limit_in_bytes"), str(16 << 20))
        self.assertEqual(host_knob("pids", cid, "pids.max"), "7")
        if has_weight:
            weight = glob.glob(f"/sys/fs/cgroup/blkio/**/{cid}/blkio*.weight", recursive=True)
            with open(weight[0]) as f:
                self.assertIn("300", f.read())
        # Lowering memory and memory+swap together: memsw may only shrink after the limit.
        self.runc_ok("update", "--memory", "64m", "--memory-swap", "96m", cid)
        self.assertEqual(host_knob("memory", cid, "memory.limit_in_bytes"), str(64 << 20))
        self.assertEqual(host_knob("memory", cid, "memory.memsw.limit_in_bytes"), str(96 << 20))

    def test_update_raises_a_limit_for_a_running_process(self):
        # The init retries a 48 MiB allocation until it survives; only a raised limit lets it.
        b = self.bundle(args=["sh", "-c", "until /probe alloc 48 >/dev/null; do /probe sleep 0.1; "
                                          "done; touch /done; exec /probe sleep 1000"],
                        mutate=lambda s: s["linux"]["resources"].update(
                            {"memory": {"limit": 32 << 20}}))
        cid = self.run_detached(b)
        done = os.path.join(b.rootfs, "done")
        deadline = time.monotonic() + 10
        while svtest.parse_kv(host_knob("memory", cid, "memory.oom_control").replace(" ", "=")
                              ).get("oom_kill", "0") == "0":
            self.assertLess(time.monotonic(), deadline, "no OOM kill under 32 MiB within 10s")
            time.sleep(0.05)
        self.assertFalse(os.path.exists(done), "48 MiB must not fit in 32 MiB")
        self.runc_ok("update", "--memory", "128m", cid)
        deadline = time.monotonic() + 10
        while not os.path.exists(done):
            self.assertLess(time.monotonic(), deadline, "the allocation still fails after update")
            time.sleep(0.05)

    def test_kernel_memory_flags_warn_and_are_ignored(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        r = self.runc("update", "--kernel-memory", "10m", "--kernel-memory-tcp", "1m", cid)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("ignored", r.err)

    def test_intel_rdt_is_a_clear_error(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        for flag, value in (("--l3-cache-schema", "L3:0=ff"), ("--mem-bw-schema", "MB:0=70")):
            r = self.runc("update", flag, value, cid)
            self.assertNotEqual(r.rc, 0, r)
            self.assertIn("Intel RDT", r.err)

    def test_update_errors(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        r = self.runc("update", "--memory", "12x", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("memory", r.err)
        self.assertIn("12x", r.err)
        r = self.runc("update", "--blkio-weight", "5", cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("blockIO.weight", r.err)
        r = self.runc("update", "--cpu-rt-runtime", "abc", cid)
        self.assertIn("--cpu-rt-runtime", r.err)
        r = self.runc("update", "--pids-limit", "5", "svit-no-such-container")
        self.assertIn("does not exist", r.err)



class SystemdDriver(ContainerTest):
    """--systemd-cgroup talks to systemd over D-Bus (unit-tested against a fake systemd);
    this host does not boot with systemd, so the runtime must say so and create nothing."""

    def test_without_systemd_the_error_says_what_to_do_and_nothing_is_left(self):
        self.assertFalse(os.path.isdir("/run/systemd/system"), "this host runs systemd")
        b = self.bundle(args=["/probe", "id"],
                        mutate=lambda s: s["linux"].update(cgroupsPath="system.slice:svit:x"))
        cid = self.new_id("sd")
        r = self.runc("run", "-b", b.path, cid, global_args=("--systemd-cgroup",))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("systemd", r.err)
        self.assertIn("--systemd-cgroup", r.err)
        self.assertNotEqual(self.runc("state", cid).rc, 0)
        self.check_clean()


if __name__ == "__main__":
    svtest.main()
