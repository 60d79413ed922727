#!/usr/bin/env python3
"""linux.* and process.* settings, observed from inside the container through /probe."""

import os
import time

import svtest
from svtest import ContainerTest, host_ns, parse_kv, read_text, sysvisor_only

CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN, CAP_AUDIT_WRITE = 0, 5, 10, 21, 29


def capmask(*bits):
    return f"{sum(1 << b for b in bits):016x}"


class Namespaces(ContainerTest):
    def wait_unshared(self, pid, kind):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                ns = os.readlink(f"/proc/{pid}/ns/{kind}")
                if ns != host_ns(kind):
                    return ns
            except OSError:
                pass
            time.sleep(0.02)
        self.fail(f"helper {pid} never entered a new {kind} namespace")

    def test_every_namespace_new(self):
        def mutate(s):
            s["linux"]["namespaces"].append({"type": "cgroup"})
        ns = self.probe("ns", mutate=mutate).kv
        for kind in ("pid", "net", "ipc", "uts", "mnt", "cgroup"):
            self.assertNotEqual(ns[kind], host_ns(kind), f"{kind} namespace must be new")
            self.assertTrue(ns[kind].startswith(kind + ":["), ns[kind])
        # Namespaces not requested stay the host's.
        self.assertEqual(ns["user"], host_ns("user"))
        self.assertEqual(ns["time"], host_ns("time"))

    def test_namespace_not_requested_is_shared(self):
        def mutate(s):
            s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"]
                                        if n["type"] in ("mount", "pid")]
            del s["hostname"]  # a hostname needs a private UTS namespace
        ns = self.probe("ns", mutate=mutate).kv
        for kind in ("net", "ipc", "uts", "cgroup"):
            self.assertEqual(ns[kind], host_ns(kind), kind)
        self.assertNotEqual(ns["pid"], host_ns("pid"))

    def _join(self, kind, unshare_flag):
        helper = self.spawn_host(["unshare", unshare_flag, "sleep", "60"])
        target = self.wait_unshared(helper.pid, kind)
        oci = {"net": "network", "mnt": "mount"}.get(kind, kind)

        def mutate(s):
            s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != oci]
            s["linux"]["namespaces"].append({"type": oci, "path": f"/proc/{helper.pid}/ns/{kind}"})
        ns = self.probe("ns", mutate=mutate).kv
        self.assertEqual(ns[kind], target, f"container must join the helper's {kind} ns")
        return helper

    def test_join_network_by_path(self):
        self._join("net", "--net")

    def test_join_ipc_by_path(self):
        self._join("ipc", "--ipc")

    def test_join_uts_by_path(self):
        self._join("uts", "--uts")

    def test_join_mount_namespace_by_path(self):
        helper = self._join("mnt", "--mount")
        # pivot_root in the joined namespace moved the helper's root too (runc does the
        # same): it now holds the container's rootfs.
        helper.kill()
        helper.wait()
        self.check_clean()

    @sysvisor_only("runc leaves the container's mounts in the runtime's namespace")
    def test_no_mount_namespace_inherits_the_runtimes_and_leaves_no_mount(self):
        def mutate(s):
            s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"]
                                        if n["type"] != "mount"]
        # Foreground run: the container's mounts sit in our namespace while it runs.
        ns = self.probe("ns", mutate=mutate).kv
        self.assertEqual(ns["mnt"], host_ns("mnt"))
        self.check_clean()
        # create/start/delete, the container's /proc and /dev in place until delete.
        b = self.bundle(args=["/probe", "sleep", "1000"], mutate=mutate)
        cid, _ = self.create(b)
        self.start(cid)
        rows = [r for r in svtest.mountinfo() if r["mountpoint"].startswith(b.rootfs)]
        self.assertTrue(any(r["mountpoint"] == b.rootfs + "/proc" for r in rows), rows)
        self.runc_ok("delete", "--force", cid)
        self.check_clean()

    def test_join_pid_namespace_of_other_container(self):
        a = self.bundle(args=["/probe", "sleep", "60"], name="a")
        cid_a = self.run_detached(a)
        pid_a = self.state(cid_a)["pid"]
        b = self.bundle(args=["/probe", "cat", "/proc/1/cmdline"], name="b")
        b.set_namespace("pid", f"/proc/{pid_a}/ns/pid")
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.split("\0")[:3], ["/probe", "sleep", "60"],
                         "pid 1 seen by the joining container must be the first one's init")

    def test_cgroup_namespace_root(self):
        def mutate(s):
            s["linux"]["namespaces"].append({"type": "cgroup"})
        out = self.probe("cat", "/proc/self/cgroup", mutate=mutate).out
        lines = [l for l in out.splitlines() if l]
        self.assertTrue(lines)
        for line in lines:
            self.assertEqual(line.split(":", 2)[2], "/", f"cgroupns root must be '/': {line}")

    def test_user_namespace_mappings(self):
        host_id = 100000

        def mutate(s):
            s["linux"]["namespaces"].append({"type": "user"})
            s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
            s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
        b = self.bundle(args=["sh", "-c", "/probe cat /proc/self/uid_map; "
                              "/probe cat /proc/self/gid_map; /probe write /tmp/made x; "
                              "/probe ns; /probe id"], mutate=mutate)
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        maps = [l.split() for l in r.out.splitlines() if l.strip() and "=" not in l]
        self.assertEqual(maps, [["0", str(host_id), "65536"]] * 2)
        kv = parse_kv(r.out)
        self.assertNotEqual(kv["user"], host_ns("user"))
        self.assertEqual((kv["uid"], kv["gid"]), ("0", "0"))
        st = os.stat(os.path.join(b.rootfs, "tmp", "made"))
        self.assertEqual((st.st_uid, st.st_gid), (host_id, host_id),
                         "container root must be hostID outside")


class TimeNamespace(ContainerTest):
    @sysvisor_only("runc 1.1.5 has no time namespace / timeOffsets support")
    def test_time_namespace_offsets(self):
        offset = 10 * 86400

        def mutate(s):
            s["linux"]["namespaces"].append({"type": "time"})
            s["linux"]["timeOffsets"] = {"boottime": {"secs": offset, "nanosecs": 0},
                                         "monotonic": {"secs": offset, "nanosecs": 0}}
        host_up = float(read_text("/proc/uptime").split()[0])
        b = self.bundle(args=["sh", "-c", "/probe ns; /probe cat /proc/uptime"], mutate=mutate)
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        kv = parse_kv(r.out)
        self.assertNotEqual(kv["time"], host_ns("time"))
        up = float(r.out.strip().splitlines()[-1].split()[0])
        self.assertGreater(up - host_up, offset - 60)
        self.assertLess(up - host_up, offset + 60)


class Uts(ContainerTest):
    def test_hostname(self):
        def mutate(s):
            s["hostname"] = "svit-host"
        kv = self.probe("hostname", mutate=mutate).kv
        self.assertEqual(kv["nodename"], "svit-host")
        self.assertNotEqual(os.uname().nodename, "svit-host")

    @sysvisor_only("runc 1.1.5 ignores the domainname field")
    def test_domainname(self):
        def mutate(s):
            s["hostname"] = "svit-host"
            s["domainname"] = "svit.example"
        kv = self.probe("hostname", mutate=mutate).kv
        self.assertEqual(kv["nodename"], "svit-host")
        self.assertEqual(kv["domainname"], "svit.example")


class Sysctl(ContainerTest):
    def test_sysctls_applied_in_container_only(self):
        host_fwd = read_text("/proc/sys/net/ipv4/ip_forward").strip()
        want_fwd = "0" if host_fwd == "1" else "1"
        host_shm = read_text("/proc/sys/kernel/shmmax").strip()

        def mutate(s):
            s["linux"]["sysctl"] = {"net.ipv4.ip_forward": want_fwd,
                                    "kernel.shmmax": "123456789"}
        b = self.bundle(args=["sh", "-c", "/probe sysctl net.ipv4.ip_forward; "
                              "/probe sysctl kernel/shmmax"], mutate=mutate)
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out.split(), [want_fwd, "123456789"])
        self.assertEqual(read_text("/proc/sys/net/ipv4/ip_forward").strip(), host_fwd)
        self.assertEqual(read_text("/proc/sys/kernel/shmmax").strip(), host_shm)


class Process(ContainerTest):
    def test_rlimits(self):
        def mutate(s):
            s["process"]["rlimits"] = [
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
                {"type": "RLIMIT_NPROC", "soft": 3000, "hard": 4000},
            ]
        kv = self.probe("rlimits", mutate=mutate).kv
        self.assertEqual(kv["RLIMIT_NOFILE"], "100:200")
        self.assertEqual(kv["RLIMIT_CORE"], "0:4096")
        self.assertEqual(kv["RLIMIT_NPROC"], "3000:4000")

    def test_oom_score_adj(self):
        def mutate(s):
            s["process"]["oomScoreAdj"] = 123
        self.assertEqual(self.probe("oom", mutate=mutate).out.strip(), "123")

    def test_no_new_privileges_on(self):
        self.assertEqual(self.probe("caps").kv["NoNewPrivs"], "1")

    def test_no_new_privileges_off(self):
        def mutate(s):
            s["process"]["noNewPrivileges"] = False
        self.assertEqual(self.probe("caps", mutate=mutate).kv["NoNewPrivs"], "0")

    def test_default_capabilities(self):
        kv = self.probe("caps").kv
        want = capmask(CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE)
        self.assertEqual(kv["CapBnd"], want)
        self.assertEqual(kv["CapPrm"], want)
        self.assertEqual(kv["CapEff"], want)
        self.assertEqual(kv["CapInh"], capmask())

    def test_all_five_capability_sets(self):
        def mutate(s):
            s["process"]["capabilities"] = {
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_CHOWN", "CAP_KILL"],
                "effective": ["CAP_KILL"],
                "inheritable": ["CAP_CHOWN", "CAP_KILL"],
                "ambient": ["CAP_CHOWN"],
            }
        kv = self.probe("caps", mutate=mutate).kv
        self.assertEqual(kv["CapBnd"], capmask(CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE))
        self.assertEqual(kv["CapInh"], capmask(CAP_CHOWN, CAP_KILL))
        self.assertEqual(kv["CapAmb"], capmask(CAP_CHOWN))
        # With no_new_privs (the default spec's noNewPrivileges) execve as root cannot gain
        # beyond the permitted set, so the spec's permitted set is exactly what survives; root's
        # legacy "all file caps effective" then makes effective equal to it.
        self.assertEqual(kv["CapPrm"], capmask(CAP_CHOWN, CAP_KILL))
        self.assertEqual(kv["CapEff"], capmask(CAP_CHOWN, CAP_KILL))
        self.assertEqual(kv["NoNewPrivs"], "1")

    def test_root_without_nnp_gets_bounding_set(self):
        # Without no_new_privs, execve as root grants every bounding-set capability.
        def mutate(s):
            s["process"]["noNewPrivileges"] = False
            s["process"]["capabilities"] = {
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL"],
                "effective": ["CAP_KILL"],
            }
        kv = self.probe("caps", mutate=mutate).kv
        want = capmask(CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE)
        self.assertEqual((kv["CapBnd"], kv["CapPrm"], kv["CapEff"]), (want, want, want))
        self.assertEqual((kv["CapInh"], kv["CapAmb"]), (capmask(), capmask()))

    def test_capabilities_non_root_user(self):
        # For a non-root user, the sets survive execve only via ambient.
        def mutate(s):
            s["process"]["user"] = {"uid": 1000, "gid": 1000}
            s["process"]["capabilities"] = {
                "bounding": ["CAP_CHOWN", "CAP_KILL"],
                "permitted": ["CAP_CHOWN", "CAP_KILL"],
                "effective": ["CAP_CHOWN", "CAP_KILL"],
                "inheritable": ["CAP_CHOWN", "CAP_KILL"],
                "ambient": ["CAP_KILL"],
            }
        kv = self.probe("caps", mutate=mutate).kv
        self.assertEqual(kv["CapBnd"], capmask(CAP_CHOWN, CAP_KILL))
        self.assertEqual(kv["CapInh"], capmask(CAP_CHOWN, CAP_KILL))
        self.assertEqual(kv["CapAmb"], capmask(CAP_KILL))
        self.assertEqual(kv["CapPrm"], capmask(CAP_KILL))
        self.assertEqual(kv["CapEff"], capmask(CAP_KILL))

    def test_capabilities_non_root_no_ambient(self):
        def mutate(s):
            s["process"]["user"] = {"uid": 1000, "gid": 1000}
            s["process"]["capabilities"] = {
                "bounding": ["CAP_KILL", "CAP_SYS_ADMIN"],
                "permitted": ["CAP_KILL"],
                "effective": ["CAP_KILL"],
            }
        kv = self.probe("caps", mutate=mutate).kv
        self.assertEqual(kv["CapBnd"], capmask(CAP_KILL, CAP_SYS_ADMIN))
        self.assertEqual((kv["CapPrm"], kv["CapEff"], kv["CapInh"], kv["CapAmb"]),
                         (capmask(),) * 4)

    def test_user_groups_umask(self):
        def mutate(s):
            s["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000],
                                    "umask": 0o027}
        kv = self.probe("id", mutate=mutate).kv
        self.assertEqual((kv["uid"], kv["euid"], kv["gid"], kv["egid"]),
                         ("1000", "1000", "1000", "1000"))
        self.assertEqual(sorted(kv["groups"].split(",")), ["2000", "3000"])
        self.assertEqual(kv["umask"], "0027")

    def test_default_umask(self):
        self.assertEqual(self.probe("id").kv["umask"], "0022")

    def test_cwd(self):
        def mutate(s):
            s["process"]["cwd"] = "/home/svuser"
        self.assertEqual(self.probe("cwd", mutate=mutate).out.strip(), "/home/svuser")

    def test_cwd_created_if_missing(self):
        def mutate(s):
            s["process"]["cwd"] = "/does/not/exist"
        self.assertEqual(self.probe("cwd", mutate=mutate).out.strip(), "/does/not/exist")

    def test_env_exact(self):
        def mutate(s):
            s["process"]["env"] = ["PATH=/bin", "FOO=bar baz", "HOME=/custom"]
        env = self.probe("env", mutate=mutate).out.splitlines()
        self.assertEqual(sorted(env), ["FOO=bar baz", "HOME=/custom", "PATH=/bin"])

    def test_env_home_added(self):
        # runc sets HOME from the user's passwd entry when the spec does not.
        def mutate(s):
            s["process"]["env"] = ["PATH=/bin"]
            s["process"]["user"] = {"uid": 1000, "gid": 1000}
        env = self.probe("env", mutate=mutate).out.splitlines()
        self.assertIn("HOME=/home/svuser", env)
        self.assertIn("PATH=/bin", env)

    @sysvisor_only("runc 1.1.5 ignores linux.personality")
    def test_personality_linux32(self):
        def mutate(s):
            s["linux"]["personality"] = {"domain": "LINUX32"}
        kv = self.probe("personality", mutate=mutate).kv
        self.assertEqual(int(kv["personality"]) & 0xff, 8)
        self.assertEqual(kv["machine"], "i686")


if __name__ == "__main__":
    svtest.main()
