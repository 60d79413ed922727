#!/usr/bin/env python3
"""Escape and confinement regression tests (issue 10): each test is a real attack from inside a
container that must fail, plus a check on the host that nothing changed. Mostly system
containers (root inside with every capability of its user namespace), plain OCI containers where
the protection is the runtime's own rather than the user namespace's.

Already covered elsewhere (not repeated here): test_security.py (the created init's exe is not
writable from the host side, no runtime fds after run/create+start of a plain container, cwd
inside, mknod without CAP_MKNOD, the device cgroup), test_regressions.py (mount destinations
through dangling and outside-pointing symlinks, a bind over /proc/self/attr).
"""

import errno
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time

import escape
import svtest
from escape import (EscapeTest, MGR, FS, RUNTIME_COPY, parse_kv, mountinfo, read_or_none,
                    sha256, strong_oci)


# --------------------------------------------------------------------------------------------
# CVE-2019-5736: overwriting the runtime binary through /proc/<pid>/exe


class ExeOverwrite(EscapeTest):
    """The attacker (the container's init, root) scans its pid namespace for 12 s for processes
    that run something other than its own binaries, grabs their /proc/PID/exe and tries to open
    it for writing; meanwhile the host runs `exec` into the container over and over, half of
    them of a script whose interpreter is /proc/self/exe (the original exploit: the runtime's
    process, still running the runtime's binary when it execs, runs that binary again inside
    the container as the container's root)."""

    ATTACK_SECS = 10

    def attack(self, oci, ptrace=True):
        digest = sha256(RUNTIME_COPY)

        def caps(spec):
            strong_oci(spec)
            if not ptrace:
                for k in ("bounding", "effective", "permitted"):
                    spec["process"]["capabilities"][k].remove("CAP_SYS_PTRACE")
        b = self.sc_bundle("exe-attack", str(self.ATTACK_SECS), mutate=caps if oci else None)
        # The runtime's shared libraries in the image (any glibc distribution has them): the
        # runtime's binary, run again inside through #!/proc/self/exe, then really starts.
        for lib in re.findall(r"(/\S+) \(0x", subprocess.run(
                ["ldd", RUNTIME_COPY], capture_output=True, text=True).stdout):
            dest = os.path.join(b.rootfs, lib.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.realpath(lib), dest)
        with open(os.path.join(b.rootfs, "bin", "sves-evil"), "w") as f:
            f.write("#!/proc/self/exe\n")
        os.chmod(os.path.join(b.rootfs, "bin", "sves-evil"), 0o755)
        out = os.path.join(self.tmp, "attack.out")
        cid = self.started(b, oci=oci, out=out)
        deadline = time.monotonic() + self.ATTACK_SECS - 2
        execs = 0
        try:
            while time.monotonic() < deadline:
                self.runc("exec", cid, "/bin/sves-evil", oci=oci, timeout=20)
                self.runc("exec", cid, "/probe", "sleep", "0.05", oci=oci, timeout=20)
                execs += 1
        except OSError as e:  # ENOEXEC: the binary was overwritten
            broken = e
        else:
            broken = None
        if sha256(RUNTIME_COPY) != digest:
            # Put the copy back so that teardown can delete the container, then fail.
            shutil.copy2(escape.BIN, RUNTIME_COPY)
            self.wait_stopped(cid, oci=oci)
            self.fail(f"the runtime binary was overwritten from inside ({broken!r}): "
                      f"{read_or_none(out)}")
        self.wait_stopped(cid, oci=oci)
        kv = parse_kv(read_or_none(out))
        if svtest.VERBOSE:
            print(f"\n  {execs} exec pairs: {kv}", file=sys.stderr)
        self.assertGreaterEqual(execs, 2)
        # The attack ran and saw the runtime's processes joining the container.
        self.assertGreater(int(kv["seen"]), 0, kv)
        # ... and got hold of the runtime's binary (or its sealed copy): the shebang exec runs
        # it inside; a plain container's CAP_SYS_PTRACE also overrides non-dumpable.
        self.assertGreater(int(kv["grabbed"]), 0, kv)
        self.assertEqual(kv["write_ok"], "0", f"the runtime binary was opened for writing: {kv}")
        self.assertEqual(sha256(RUNTIME_COPY), digest, "the runtime binary changed")
        for k in ("ptrace_ok", "vmread_ok", "getfd_ok"):
            self.assertEqual(kv[k], "0", f"{k}: the runtime's process was reachable: {kv}")
        return kv

    def test_system_container_exec(self):
        self.attack(oci=False)

    def test_oci_container_exec(self):
        # Docker's default capabilities plus CAP_SYS_PTRACE, which lets root in a container
        # without a user namespace open /proc/PID/exe of a non-dumpable process.
        self.attack(oci=True)

    def test_oci_container_exec_default_caps(self):
        # Only the #!/proc/self/exe route is left.
        self.attack(oci=True, ptrace=False)


# --------------------------------------------------------------------------------------------
# CVE-2024-21626: a leaked host fd or cwd reaching the container


class LeakedFdsAndCwd(EscapeTest):
    FDS = range(3, 12)

    def check_cwd(self, r, what):
        if r.rc != 0:
            return  # refused: fine (the directory does not exist in the container)
        kv = parse_kv(r.out)
        self.assertNotIn("(unreachable)", r.out, f"{what}: cwd outside the container: {r!r}")
        self.assertEqual(kv.get("same"), "1", f"{what}: cwd is not where getcwd says: {r!r}")

    def cwd_attack_create(self, oci):
        for n in self.FDS:
            b = self.sc_bundle("cwd-check", mutate=(strong_oci if oci else None))
            b.spec["process"]["cwd"] = f"/proc/self/fd/{n}"
            b.save()
            r = self.runc("run", "--bundle", b.path, self.new_id("cwd"), oci=oci)
            self.check_cwd(r, f"process.cwd /proc/self/fd/{n}")

    def cwd_attack_exec(self, oci):
        b = self.sc_bundle("sleep", "60", mutate=(strong_oci if oci else None))
        cid = self.started(b, oci=oci)
        for n in self.FDS:
            r = self.runc("exec", "--cwd", f"/proc/self/fd/{n}", cid, "/probe", "cwd-check",
                          oci=oci)
            self.check_cwd(r, f"exec --cwd /proc/self/fd/{n}")
        # The same through a process.json.
        proc = {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/probe", "cwd-check"],
                "cwd": "/proc/self/fd/7", "env": ["PATH=/bin"]}
        pj = os.path.join(self.tmp, "process.json")
        with open(pj, "w") as f:
            json.dump(proc, f)
        self.check_cwd(self.runc("exec", "--process", pj, cid, oci=oci), "process.json cwd")

    def test_cwd_proc_self_fd_system_container(self):
        self.cwd_attack_create(oci=False)

    def test_cwd_proc_self_fd_oci(self):
        self.cwd_attack_create(oci=True)

    def test_exec_cwd_proc_self_fd_system_container(self):
        self.cwd_attack_exec(oci=False)

    def test_exec_cwd_proc_self_fd_oci(self):
        self.cwd_attack_exec(oci=True)

    def fds(self, text):
        return {int(l.split(" ", 1)[0]): l.split(" ", 1)[1] for l in text.splitlines()
                if re.match(r"^\d+ ", l)}

    def test_no_fds_in_system_container_init_or_exec(self):
        # The init and an exec'd process of a system container hold nothing but stdio: no
        # mgr or fs connection, no cgroup, state or rootfs directory.
        b = self.sc_bundle("fds")
        r = self.run_container(b)
        self.assertEqual(sorted(self.fds(r.out)), [0, 1, 2], r)
        b = self.sc_bundle("sleep", "60")
        cid = self.started(b)
        r = self.runc("exec", cid, "/probe", "fds")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sorted(self.fds(r.out)), [0, 1, 2], r)
        r = self.runc("exec", cid, "/probe", "ls", "/proc/1/fd")
        self.assertEqual(sorted(int(x) for x in r.out.split()), [0, 1, 2], r)

    def test_no_fds_in_oci_exec(self):
        b = self.sc_bundle("sleep", "60")
        cid = self.started(b, oci=True)
        r = self.runc("exec", cid, "/probe", "fds", oci=True)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(sorted(self.fds(r.out)), [0, 1, 2], r)


# --------------------------------------------------------------------------------------------
# Host knobs: /proc/sys, /proc/sysrq-trigger, /sys/kernel, cgroup release_agent


# (path, value written) ; the host's value is read before and after.
KNOBS = [
    ("/proc/sys/kernel/core_pattern", "|/sves-pwned %p"),
    ("/proc/sys/kernel/modprobe", "/sves-pwned"),
    ("/proc/sys/kernel/panic", "77"),
    ("/proc/sys/kernel/sysrq", "0"),
    ("/proc/sys/vm/overcommit_memory", "1"),
    ("/proc/sys/vm/panic_on_oom", "1"),
    ("/proc/sys/vm/swappiness", "17"),
    ("/proc/sys/fs/suid_dumpable", "2"),
    ("/proc/sys/kernel/randomize_va_space", "0"),
    ("/sys/kernel/uevent_helper", "/sves-pwned"),
    ("/sys/kernel/mm/transparent_hugepage/enabled", "never"),
    ("/sys/module/printk/parameters/time", "N"),
    ("/proc/sysrq-trigger", "h"),
]


class HostKnobs(EscapeTest):
    def host_values(self):
        return {p: read_or_none(p) for p, _ in KNOBS}

    def restore(self, before):
        # Only if an attack got through: put the host back (and the test fails anyway).
        for p, v in before.items():
            if v is not None and read_or_none(p) != v:
                try:
                    with open(p, "w") as f:
                        f.write(v)
                except OSError:
                    pass

    def attack_script(self, b, pre=""):
        lines = [pre]
        for p, v in KNOBS:
            lines.append(f'/probe write {p} "{v}" >/dev/null 2>&1; echo "{p}=$?"')
        return self.script(b, "\n".join(lines) + "\n")

    def run_knobs(self, pre):
        before = self.host_values()
        self.host_cleanup.append(lambda: self.restore(before))
        b = self.sc_bundle("id")
        b.set_args(self.attack_script(b, pre))
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.host_values(), before, f"a host knob changed: {r.out}")
        if svtest.VERBOSE:
            print(r.out, file=sys.stderr)
        return parse_kv(r.out)

    def test_writes_as_configured(self):
        kv = self.run_knobs("")
        # Never-emulated host knobs are refused outright.
        for p in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                  "/sys/kernel/uevent_helper", "/proc/sysrq-trigger",
                  "/proc/sys/kernel/randomize_va_space"):
            self.assertNotEqual(kv[p], "0", f"write to {p} succeeded")

    def test_writes_after_removing_the_runtimes_mounts(self):
        # Root inside may unmount what the runtime mounted in its namespace: the read-only
        # binds, the sysvisor-fs files over /proc/sys; and remount /sys and /proc read-write,
        # or mount a fresh procfs and sysfs. The kernel's files must still refuse.
        pre = ("umount /proc/sysrq-trigger /proc/sys /proc/sys 2>/dev/null\n"
               "umount -l /proc/sys 2>/dev/null\n"
               "mount -o remount,rw /sys 2>/dev/null; mount -o remount,rw /proc 2>/dev/null\n"
               "mkdir -p /tmp/p /tmp/s; mount -t proc proc /tmp/p && echo fresh_proc=1\n"
               "mount -t sysfs sysfs /tmp/s && echo fresh_sys=1\n"
               "for k in kernel/core_pattern kernel/modprobe vm/swappiness; do\n"
               "  /probe write /tmp/p/sys/$k sves >/dev/null 2>&1; echo fresh_$k=$?; done\n"
               "/probe write /tmp/s/kernel/uevent_helper /sves >/dev/null 2>&1;"
               " echo fresh_uevent=$?\n"
               "grep -c fuse /proc/self/mountinfo | sed 's/^/fuse_left=/'\n")
        before = self.host_values()
        kv = self.run_knobs(pre)
        for p, _ in KNOBS:
            if p.startswith("/proc/sys/kernel/panic") or p.endswith(("/sysrq", "overcommit_memory",
                                                                     "panic_on_oom", "swappiness")):
                continue  # these may be emulated; the host value is what counts
            self.assertNotEqual(kv[p], "0", f"write to {p} succeeded")
        for k in ("kernel/core_pattern", "kernel/modprobe", "vm/swappiness"):
            self.assertNotEqual(kv[f"fresh_{k}"], "0", kv)
        self.assertNotEqual(kv["fresh_uevent"], "0", kv)
        self.assertEqual(self.host_values(), before)

    def test_cgroup_release_agent(self):
        # CVE-2022-0492: a cgroup v1 hierarchy mounted inside, with a release_agent run by the
        # host's kernel as host root when a cgroup empties.
        agents = {c: read_or_none(f"/sys/fs/cgroup/{c}/release_agent")
                  for c in os.listdir("/sys/fs/cgroup")}
        b = self.sc_bundle("id")
        b.set_args(self.script(b, (
            "mkdir -p /tmp/named /tmp/mem\n"
            "mount -t cgroup -o none,name=sves cgroup /tmp/named; echo named=$?\n"
            "mount -t cgroup -o memory cgroup /tmp/mem; echo mem=$?\n"
            "for d in /tmp/named /tmp/mem /sys/fs/cgroup/*; do\n"
            "  [ -e $d/cgroup.procs ] || continue\n"
            "  [ -e $d/release_agent ] && echo agent_seen=$d &&\n"
            "  /probe write $d/release_agent /sves-pwned >/dev/null 2>&1 && echo agent_written=$d\n"
            "  mkdir -p $d/x 2>/dev/null && /probe write $d/x/notify_on_release 1 >/dev/null 2>&1"
            " && echo notify=$d\n"
            "done; true\n")))
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertNotEqual(parse_kv(r.out).get("named"), "0", r.out)
        self.assertNotIn("agent_written", r.out)
        self.assertEqual({c: read_or_none(f"/sys/fs/cgroup/{c}/release_agent")
                          for c in os.listdir("/sys/fs/cgroup")}, agents)


    def test_emulated_writes_stay_in_their_container(self):
        # kernel.panic and vm.overcommit_memory are per container (sysvisor-fs): what A sets
        # is neither the host's value nor B's.
        knobs = ("/proc/sys/kernel/panic", "/proc/sys/vm/overcommit_memory")
        before = {k: read_or_none(k) for k in knobs}
        self.host_cleanup.append(lambda: self.restore(before))
        a = self.sc_bundle("sleep", "60")
        acid = self.started(a)
        r = self.runc("exec", acid, "sh", "-c", "echo 77 > /proc/sys/kernel/panic && "
                      "echo 1 > /proc/sys/vm/overcommit_memory && cat /proc/sys/kernel/panic")
        self.assertEqual((r.rc, r.out.strip()), (0, "77"), r)
        b = self.sc_bundle("id")
        b.set_args(self.script(b, "cat /proc/sys/kernel/panic /proc/sys/vm/overcommit_memory\n"))
        r = self.run_container(b)
        self.assertEqual(r.out, before[knobs[0]] + before[knobs[1]], r)
        self.assertEqual({k: read_or_none(k) for k in knobs}, before)


# --------------------------------------------------------------------------------------------
# Processes of the host: signals and ptrace


class HostProcesses(EscapeTest):
    def test_kill_everything_from_inside(self):
        canary = self.spawn_host(["sleep", "300"])
        b = self.sc_bundle("id")
        b.set_args(self.script(b, (
            f"kill -9 {canary.pid} 2>/dev/null; echo direct=$?\n"
            "kill -9 -1; echo all=$?\n")))
        r = self.run_container(b)
        time.sleep(0.2)
        self.assertIsNone(canary.poll(), f"a host process died: {r!r}")
        # The daemons are host processes too.
        self.assertIsNone(MGR.proc.poll())
        self.assertIsNone(FS.proc.poll())

    def test_pidfd_and_ptrace_of_host_pids(self):
        # Host pids mean nothing inside: the host process's number names nothing (or one of
        # the container's own processes) in the container's pid namespace.
        canary = self.spawn_host(["sleep", "300"])
        b = self.sc_bundle("id")
        b.set_args(self.script(b, (
            f"/probe readlink /proc/{canary.pid}/exe; echo exe=$?\n"
            f"/probe cat /proc/{canary.pid}/environ; echo environ=$?\n")))
        r = self.run_container(b)
        kv = parse_kv(r.out)
        self.assertNotEqual(kv["exe"], "0", r.out)
        self.assertNotIn("sleep", r.out)
        self.assertIsNone(canary.poll())


# --------------------------------------------------------------------------------------------
# Daemons' sockets and the FUSE mount


class DaemonSockets(EscapeTest):
    def test_sockets_and_fuse_mount_unreachable(self):
        abstract = f"sves-abstract-{os.getpid()}"
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind("\0" + abstract)
        srv.listen(4)
        self.host_cleanup.append(srv.close)
        paths = [MGR.paths["mgr.sock"], FS.paths["fs.sock"], FS.paths["mnt"], "/run/sysvisor/mgr.sock",
                 "/run/sysvisor/fs.sock"]
        lines = []
        for i, p in enumerate(paths):
            lines.append(f"/probe connect {p} >/dev/null 2>&1; echo sock{i}=$?")
            lines.append(f"/probe stat {p} >/dev/null 2>&1; echo stat{i}=$?")
        lines.append(f"/probe connect @{abstract} >/dev/null 2>&1; echo abstract=$?")
        lines.append("cat /proc/net/unix")
        b = self.sc_bundle("id")
        b.set_args(self.script(b, "\n".join(lines) + "\n"))
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        kv = parse_kv(r.out)
        for i, p in enumerate(paths):
            self.assertNotEqual(kv[f"sock{i}"], "0", f"connected to {p} from inside")
            self.assertEqual(kv[f"stat{i}"], str(errno.ENOENT), f"{p} is visible inside")
        self.assertEqual(kv["abstract"], str(errno.ECONNREFUSED), r.out)
        for needle in (MGR.paths["mgr.sock"], FS.paths["fs.sock"], abstract):
            self.assertNotIn(needle, r.out)

    def test_fuse_binds_show_only_the_containers_own_subtree(self):
        a = self.started(self.sc_bundle("sleep", "60"))
        b = self.sc_bundle("id")
        cid = self.new_id("fuse")
        b.set_args(self.script(b, (
            "/probe mounts\n"
            "ls /proc/sys/.. >/dev/null && echo dotdot=ok\n")))
        r = self.run_container(b, cid=cid)
        self.assertEqual(r.rc, 0, r)
        fuse = [m for m in mountinfo(r.out) if m["fstype"].startswith("fuse")]
        self.assertTrue(fuse, r.out)
        for m in fuse:
            self.assertNotIn(a, m["root"], m)
            self.assertNotEqual(m["root"], "/", f"the whole FUSE mount is visible: {m}")


# --------------------------------------------------------------------------------------------
# Cgroup limits


def host_cgroup_dir(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return os.path.join("/sys/fs/cgroup", controller, path.lstrip("/"))
    return None


class CgroupLimits(EscapeTest):
    MEM = 96 << 20
    PIDS = 64

    def test_raise_memory_and_pids_limits_from_inside(self):
        b = self.sc_bundle("sleep", "60")
        b.spec["linux"]["resources"]["memory"] = {"limit": self.MEM}
        b.spec["linux"]["resources"]["pids"] = {"limit": self.PIDS}
        b.save()
        self.script(b, (
            "cd /sys/fs/cgroup\n"
            "for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes"
            " memory/memory.soft_limit_in_bytes pids/pids.max; do\n"
            "  chmod 666 $f 2>/dev/null; chown 0 $f 2>/dev/null\n"
            "  /probe write $f max >/dev/null 2>&1; echo $f.max=$?\n"
            "  /probe write $f 9999999999 >/dev/null 2>&1; echo $f.big=$?\n"
            "done\n"
            "mount -o remount,rw /sys/fs/cgroup 2>/dev/null\n"
            "mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg &&"
            " { /probe write /tmp/cg/memory.limit_in_bytes 9999999999 >/dev/null 2>&1;"
            " echo fresh=$?; }\n"
            # A child cgroup with a higher limit, the attacker inside it: the parent's binds.
            "mkdir -p memory/sves && /probe write memory/sves/memory.limit_in_bytes 9999999999"
            " >/dev/null 2>&1; echo child_limit=$?\n"
            "echo $$ > memory/sves/cgroup.procs && echo moved=1\n"
            "/probe alloc 200 >/dev/null 2>&1; echo alloc=$?\n"), name="attack.sh")
        cid = self.started(b)
        pid = self.init_pid(cid)
        mem = host_cgroup_dir(pid, "memory")
        pids = host_cgroup_dir(pid, "pids")
        self.assertTrue(mem and os.path.isdir(mem), mem)
        files = [os.path.join(mem, "memory.limit_in_bytes"), os.path.join(pids, "pids.max")]
        before = {f: read_or_none(f) for f in files}
        self.assertEqual(int(before[files[0]]), self.MEM)
        self.assertEqual(before[files[1]].strip(), str(self.PIDS))
        r = self.runc("exec", cid, "/attack.sh", timeout=60)
        kv = parse_kv(r.out)
        if svtest.VERBOSE:
            print(r.out, file=sys.stderr)
        for f in ("memory/memory.limit_in_bytes", "pids/pids.max"):
            for how in ("max", "big"):
                self.assertNotEqual(kv.get(f"{f}.{how}"), "0", f"{f} raised from inside: {r!r}")
        self.assertNotEqual(kv.get("fresh", "x"), "0", r.out)
        self.assertEqual({f: read_or_none(f) for f in files}, before, "a limit changed")
        for f in files:
            st = os.stat(f)
            self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode) & 0o022), (0, 0), f)
        # The 200 MiB allocation under a 96 MiB limit above it: OOM-killed (137) or refused.
        self.assertNotEqual(kv.get("alloc"), "0", f"allocated past the limit: {r!r}")

    def test_other_cgroups_invisible(self):
        # The cgroup namespace: another container's cgroup (and the host's) is out of sight,
        # so its limits and cgroup.procs are out of reach.
        a = self.started(self.sc_bundle("sleep", "60"))
        b = self.sc_bundle("id")
        b.set_args(self.script(b, (
            "ls -R /sys/fs/cgroup/memory /sys/fs/cgroup/pids | grep -c sves- | sed s/^/seen=/\n"
            "cat /proc/self/cgroup\n")))
        r = self.run_container(b)
        self.assertEqual(parse_kv(r.out).get("seen"), "0", r.out)
        self.assertNotIn(a, r.out)
        for line in r.out.splitlines():
            if re.match(r"^\d+:[^:]*:", line):
                self.assertEqual(line.split(":", 2)[2], "/", f"cgroup namespace root: {r.out}")


# --------------------------------------------------------------------------------------------
# Host block devices


def host_root_device():
    for m in mountinfo():
        if m["mountpoint"] == "/":
            maj, mnr = m["dev"].split(":")
            return int(maj), int(mnr), m["source"]
    return None


class BlockDevices(EscapeTest):
    def test_mknod_and_mount_host_disk(self):
        maj, mnr, source = host_root_device()
        b = self.sc_bundle("id")
        b.set_args(self.script(b, (
            f"/probe mknod-test /tmp/disk b {maj} {mnr}\n"
            f"/probe mknod-test /dev/sves-disk b {maj} {mnr} | sed s/^/dev_/\n"
            "mkdir -p /mnt/d\n"
            f"mount -t ext4 {source} /mnt/d 2>/dev/null; echo mount_src=$?\n"
            "mount /dev/sves-disk /mnt/d 2>/dev/null; echo mount_node=$?\n"
            "ls /mnt/d | head -3\n")))
        r = self.run_container(b)
        kv = parse_kv(r.out)
        self.assertEqual(kv.get("mknod"), str(errno.EPERM), r.out)
        self.assertEqual(kv.get("dev_mknod"), str(errno.EPERM), r.out)
        self.assertNotEqual(kv.get("mount_src"), "0", r.out)
        self.assertNotEqual(kv.get("mount_node"), "0", r.out)

    def test_mount_a_passed_in_loop_device(self):
        # The strongest configuration: the admin hands the container a block device, read-only
        # as `docker run --device /dev/loopN:/dev/sves-loop:r` does it (the node in
        # linux.devices, an "r" rule in linux.resources.devices). Root inside may read the
        # device, but not write it (the node alone grants nothing, as with runc and crun), nor
        # mount its filesystem (ext4 is not mountable in a user namespace: a crafted image would
        # attack the host kernel's ext4 driver).
        img = os.path.join(self.tmp, "disk.img")
        with open(img, "wb") as f:
            f.truncate(8 << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
        loop = subprocess.run(["losetup", "--find", "--show", img], capture_output=True,
                              text=True, check=True).stdout.strip()
        self.host_cleanup.append(lambda: subprocess.run(["losetup", "-d", loop], check=True))
        st = os.stat(loop)
        maj, mnr = os.major(st.st_rdev), os.minor(st.st_rdev)
        digest = sha256(img)
        b = self.sc_bundle("id")
        b.spec["linux"]["devices"] = [{"path": "/dev/sves-loop", "type": "b", "major": maj,
                                       "minor": mnr, "fileMode": 0o660, "uid": 0, "gid": 0}]
        b.spec["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": maj, "minor": mnr, "access": "r"})
        b.save()
        b.set_args(self.script(b, (
            "mkdir -p /mnt/d\n"
            "mount -t ext4 /dev/sves-loop /mnt/d 2>/dev/null; echo mount=$?\n"
            "mount -t ext4 -o ro /dev/sves-loop /mnt/d 2>/dev/null; echo mount_ro=$?\n"
            "/probe cat /dev/sves-loop | head -c 4096 >/dev/null; echo read=$?\n"
            "/probe write /dev/sves-loop x | sed 's/^errno=/write_errno=/'\n")))
        r = self.run_container(b)
        kv = parse_kv(r.out)
        self.assertNotEqual(kv.get("mount"), "0", r.out)
        self.assertNotEqual(kv.get("mount_ro"), "0", r.out)
        self.assertEqual(kv.get("read"), "0", r.out)  # the device itself is usable
        self.assertEqual(kv.get("write_errno"), str(errno.EPERM), r.out)
        self.assertEqual(sha256(img), digest)


# --------------------------------------------------------------------------------------------
# Another container's files


class OtherContainersFiles(EscapeTest):
    def test_upper_dir_of_another_container(self):
        # A's rootfs is an overlay (Docker's case): what A writes lands in its upper dir, owned
        # by A's range on the host. B gets A's upper dir as a volume, and tries as root with
        # every capability to read, write, chmod and chown A's private file.
        a = self.sc_bundle("sleep", "60")
        lower, upper, work, merged = (os.path.join(self.tmp, d)
                                      for d in ("lower", "upper", "work", "merged"))
        for d in (upper, work, merged):
            os.mkdir(d)
        os.rename(a.rootfs, lower)
        os.mkdir(a.rootfs)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={work}", a.rootfs],
                       check=True)
        self.allowed_mounts.add(a.rootfs)
        self.host_cleanup.append(lambda: subprocess.run(["umount", a.rootfs], check=True))
        acid = self.started(a)
        r = self.runc("exec", acid, "sh", "-c",
                      "umask 077; mkdir /private; echo a-secret > /private/secret; "
                      "chmod 600 /private/secret; /probe stat /private/secret")
        self.assertEqual(r.rc, 0, r)
        on_host = os.stat(os.path.join(upper, "private", "secret"))
        base_a = self.state_range(acid)
        self.assertEqual(on_host.st_uid, base_a, "A's file belongs to A's range on the host")

        b = self.sc_bundle("id")
        b.add_mount("/other", "bind", upper, ["rbind", "rw"])
        b.set_args(self.script(b, (
            "/probe cat /other/private/secret; echo read=$?\n"
            "/probe ls /other/private >/dev/null 2>&1; echo list=$?\n"
            "/probe write /other/private/new x >/dev/null 2>&1; echo create=$?\n"
            "chmod 777 /other/private 2>/dev/null; echo chmod=$?\n"
            "chown 0:0 /other/private/secret 2>/dev/null; echo chown=$?\n"
            "/probe stat /other/private/secret | grep uid\n")))
        r = self.run_container(b)
        kv = parse_kv(r.out)
        self.assertNotIn("a-secret", r.out)
        for k in ("read", "list", "create", "chmod", "chown"):
            self.assertNotEqual(kv.get(k), "0", f"B could {k} A's files: {r.out}")
        after = os.stat(os.path.join(upper, "private", "secret"))
        self.assertEqual((after.st_uid, after.st_mode), (on_host.st_uid, on_host.st_mode))
        self.assertFalse(os.path.exists(os.path.join(upper, "private", "new")))

    def test_breakout_with_another_ranges_ids(self):
        # Whatever B's root reaches after a breakout, it reaches as B's host uid: A's files
        # (its rootfs, written through its idmapped mount, and its inner engine store) must not
        # be readable with that uid.
        a = self.sc_bundle("sleep", "60")
        os.makedirs(os.path.join(a.rootfs, "var", "lib", "docker"))
        acid = self.started(a)
        r = self.runc("exec", acid, "sh", "-c",
                      "umask 077; echo a-secret > /root/secret; "
                      "echo a-store > /var/lib/docker/secret")
        self.assertEqual(r.rc, 0, r)
        b = self.started(self.sc_bundle("sleep", "60"))
        base_b = self.state_range(b)
        self.assertNotEqual(base_b, self.state_range(acid))
        store = os.path.join(MGR.paths["data"], "docker", acid)
        for path in (os.path.join(a.rootfs, "root", "secret"), os.path.join(store, "secret")):
            self.assertTrue(os.path.exists(path), path)
            r = subprocess.run(["setpriv", f"--reuid={base_b}", f"--regid={base_b}",
                                "--clear-groups", "cat", path], capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0, f"B's host uid read {path}")
            self.assertNotIn("a-", r.stdout)

    def state_range(self, cid):
        with open(f"/proc/{self.init_pid(cid)}/uid_map") as f:
            return int(f.read().split()[1])


# --------------------------------------------------------------------------------------------
# CVE-2021-30465: a mount destination swapped for a symlink while the runtime mounts


class SymlinkSwapRace(EscapeTest):
    RACE_SECS = 25

    def test_mount_destination_swapped_during_setup(self):
        vol = os.path.join(self.tmp, "vol")
        os.mkdir(vol)
        canary = f"/tmp/sves-canary-{os.getpid()}"
        os.makedirs(canary, exist_ok=True)

        def cleanup():
            for m in reversed(mountinfo()):
                if m["mountpoint"].startswith(canary):
                    subprocess.run(["umount", "-l", m["mountpoint"]])
            shutil.rmtree(canary, ignore_errors=True)
        self.host_cleanup.append(cleanup)
        host_before = {(m["mountpoint"], m["fstype"]) for m in mountinfo()
                       if self.tmp not in m["mountpoint"]}
        # In the volume: a directory d and a symlink l, exchanged in a loop by the attacker
        # (root in another system container sharing the volume). l points at the canary by an
        # absolute and by a ../ path, as the host would see it from the victim's rootfs.
        os.mkdir(os.path.join(vol, "d"))
        depth = "../" * 20
        os.symlink(depth + canary.lstrip("/"), os.path.join(vol, "l"))
        racer = self.sc_bundle("swap-loop", "/vol/d", "/vol/l", str(self.RACE_SECS + 5))
        racer.add_mount("/vol", "bind", vol, ["rbind", "rw"])
        rcid = self.started(racer)

        deadline = time.monotonic() + self.RACE_SECS
        runs = {"oci": 0, "sys": 0}
        outcomes = {"refused": 0, "followed l inside the rootfs": 0, "mounted in /vol/d": 0}
        i = 0
        while time.monotonic() < deadline:
            oci = i % 2 == 1
            i += 1
            v = self.sc_bundle("mounts", name=f"victim-{i}",
                               mutate=strong_oci if oci else None)
            v.add_mount("/vol", "bind", vol, ["rbind", "rw"])
            v.add_mount("/vol/d/m", "tmpfs", "tmpfs", ["size=1m"])
            v.add_mount("/vol/d/b", "bind", self.tmp, ["rbind", "ro"])
            # Following l inside the rootfs (RESOLVE_IN_ROOT) is fine: the mount then lands on
            # the victim's own /tmp/sves-canary-*. Only the host's canary must stay untouched.
            r = self.runc("run", "--bundle", v.path, self.new_id("victim"), oci=oci)
            runs["oci" if oci else "sys"] += 1
            if r.rc != 0:
                outcomes["refused"] += 1
            elif any(m["mountpoint"].startswith(canary) for m in mountinfo(r.out)):
                outcomes["followed l inside the rootfs"] += 1
            else:
                outcomes["mounted in /vol/d"] += 1
            shutil.rmtree(v.path, ignore_errors=True)
            self.assertEqual(os.listdir(canary), [], f"run {i} created files in the canary")
        self.wait_stopped(rcid, timeout=30)
        swaps = int(parse_kv(read_or_none(os.path.join(self.tmp, f"{rcid}.out")))["swaps"])
        self.assertGreater(swaps, 1000)
        print(f"\n  race: {runs} victims, {outcomes}, {swaps} swaps", file=sys.stderr)
        self.assertGreater(min(runs.values()), 3, runs)
        host_after = {(m["mountpoint"], m["fstype"]) for m in mountinfo()
                      if self.tmp not in m["mountpoint"]}
        new = sorted(x for x in host_after - host_before
                     if x[0].startswith(canary) or x[0].endswith(("/m", "/b")))
        self.assertEqual(new, [], "a mount landed on the host")
        self.assertEqual(os.listdir(canary), [])
        # Nothing was created next to the volume on the host either.
        self.assertEqual(sorted(os.listdir(vol)), ["d", "l"])


if __name__ == "__main__":
    escape.main()
