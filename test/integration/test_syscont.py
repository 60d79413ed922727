"""System containers from OCI bundles (root, no Docker): sysvisor-runc without --oci-only asks
a private sysvisor-mgr for an exclusive id range and turns the bundle into a system container
(user + cgroup + time namespaces, full capabilities for root, idmapped rootfs and binds).
Checks what a user of the container and of the host sees, and what is refused. The runtime's
side of sysvisor-fs: a down daemon, --no-fs, and (FsTest) a private daemon's files bound over
/proc and /sys.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from test_mgr import BIN, BLOCK  # noqa: E402
from fs_daemon import start_private_daemons  # noqa: E402

# One private mgr and sysvisor-fs for the module (system containers register with both),
# started before svtest reads SV_RUNC_GLOBAL_ARGS.
MGR, FS, _ = start_private_daemons("svit-sc-")

from svtest import *  # noqa: E402,F401,F403
import svtest  # noqa: E402

POOL_START = int([l for l in open(MGR.paths["subuid"]).read().splitlines()
                  if l.startswith("sysvisor:")][0].split(":")[1])
CAP_LAST = int(open("/proc/sys/kernel/cap_last_cap").read())
ALL_CAPS = (1 << (CAP_LAST + 1)) - 1


def uid_map_of(text):
    return [tuple(int(x) for x in l.split()) for l in text.strip().splitlines()]


class SysContTest(svtest.ContainerTest):
    def sc_bundle(self, *args, **kw):
        return self.bundle(args=["/probe", *args], **kw)

    def mgr_entry(self, cid):
        return {c["id"]: c for c in MGR.status()["containers"]}.get(cid)

    def test_uid_map_is_an_exclusive_range_in_the_pool(self):
        r = self.probe("cat", "/proc/self/uid_map")
        (inside, base, size), = uid_map_of(r.out)
        self.assertEqual((inside, size), (0, BLOCK))
        self.assertTrue(POOL_START <= base < POOL_START + 268435456, base)
        g = uid_map_of(self.probe("cat", "/proc/self/gid_map").out)
        self.assertEqual(g[0][2], BLOCK)

    def test_five_containers_five_disjoint_ranges_and_host_ps(self):
        bases = []
        for i in range(5):
            b = self.sc_bundle("sleep", "30")
            cid, _ = self.create(b)
            self.start(cid)
            pid = self.state(cid)["pid"]
            with open(f"/proc/{pid}/uid_map") as f:
                base = uid_map_of(f.read())[0][1]
            # ps on the host: the container's root is base+0.
            st = os.stat(f"/proc/{pid}")
            self.assertEqual(st.st_uid, base)
            ps = subprocess.run(["ps", "-o", "uid=", "-p", str(pid)], capture_output=True,
                                text=True).stdout.strip()
            self.assertEqual(int(ps), base)
            bases.append(base)
            self.assertEqual(self.mgr_entry(cid)["uidBase"], base)
        self.assertEqual(len(set(bases)), 5)
        s = sorted(bases)
        for a, b in zip(s, s[1:]):
            self.assertGreaterEqual(b - a, BLOCK)

    def test_all_eight_namespaces_differ_from_the_hosts(self):
        r = self.probe("ns")
        ns = parse_kv(r.out)
        for kind in ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"):
            self.assertIn(kind, ns)
            self.assertNotEqual(ns[kind], host_ns(kind), kind)

    def test_root_has_every_capability_and_user_1000_none(self):
        caps = parse_kv(self.probe("caps").out)
        for k in ("CapEff", "CapPrm", "CapBnd"):
            self.assertEqual(int(caps[k], 16), ALL_CAPS, k)

        def as_user(spec):
            spec["process"]["user"] = {"uid": 1000, "gid": 1000}
        caps = parse_kv(self.probe("caps", mutate=as_user).out)
        self.assertEqual(int(caps["CapEff"], 16), 0)
        self.assertEqual(int(caps["CapPrm"], 16), 0)

    def test_image_files_root_owned_inside_untouched_on_host(self):
        b = self.sc_bundle("stat", "/bin/busybox")
        before = os.stat(os.path.join(b.rootfs, "bin", "busybox"))
        self.assertEqual((before.st_uid, before.st_gid), (0, 0))
        st = parse_kv(self.run_container(b).out)
        self.assertEqual((st["uid"], st["gid"]), ("0", "0"))
        after = os.stat(os.path.join(b.rootfs, "bin", "busybox"))
        self.assertEqual((after.st_uid, after.st_gid), (0, 0))
        # Root inside may write where image root may: the rootfs is writable.
        b2 = self.sc_bundle("write", "/etc/created-inside", "hello")
        self.assertEqual(self.run_container(b2).rc, 0)
        self.assertEqual(open(os.path.join(b2.rootfs, "etc", "created-inside")).read(), "hello")

    def test_overlay_rootfs_gets_the_engines_id_view(self):
        # A rootfs that is an overlay mount with an upper dir (Docker's ".../merged"): the
        # container runs on our overlay (idmapped lower layers), and the path, which the engine
        # reads, gets the id view: 0-based both ways, the container's writes seen at once, none
        # of the container's own mounts. Delete puts the engine's overlay back.
        b = self.sc_bundle("sleep", "30")
        merged, lower, upper = self.overlay_rootfs(b)
        b.spec["root"]["path"] = merged
        b.save()
        cid, _ = self.create(b)
        self.start(cid)
        with open(f"/proc/{self.state(cid)['pid']}/uid_map") as f:
            base = int(f.read().split()[1])
        top = [r for r in mountinfo() if r["mountpoint"] == merged][-1]
        self.assertEqual((top["fstype"], top["source"]), ("fuse", "sysvisor-idview"))
        self.assertEqual(self.runc("exec", cid, "/probe", "write", "/made", "in").rc, 0)
        st = os.stat(os.path.join(merged, "made"))
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        st = os.stat(os.path.join(upper, "made"))
        self.assertEqual((st.st_uid, st.st_gid), (base, base))
        self.assertEqual(os.stat(os.path.join(merged, "probe")).st_uid, 0)
        # The host (the engine) writes through the path: the container's root owns it.
        with open(os.path.join(merged, "host-made"), "w") as f:
            f.write("host")
        os.mkdir(os.path.join(merged, "host-dir"))
        os.chown(os.path.join(merged, "host-dir"), 1000, 1000)
        kv = self.runc("exec", cid, "/probe", "stat", "/host-made").kv
        self.assertEqual((kv["uid"], kv["gid"]), ("0", "0"))
        kv = self.runc("exec", cid, "/probe", "stat", "/host-dir").kv
        self.assertEqual((kv["uid"], kv["gid"]), ("1000", "1000"))
        self.assertEqual(os.stat(os.path.join(upper, "host-dir")).st_uid, base + 1000)
        # The container's /proc is a mount of its own, not part of what the engine sees.
        self.assertEqual(os.listdir(os.path.join(merged, "proc")), [])
        self.runc_ok("delete", "--force", cid)
        top = [r for r in mountinfo() if r["mountpoint"] == merged][-1]
        self.assertEqual(top["fstype"], "overlay")
        self.assertIn(f"lowerdir+={lower}", top["super"])
        self.assertEqual(len([r for r in mountinfo() if r["mountpoint"] == merged]), 1)
        # Back to 0-based on disk; the lower layer never changed.
        for name in ("made", "host-made"):
            st = os.stat(os.path.join(upper, name))
            self.assertEqual((st.st_uid, st.st_gid), (0, 0), name)
        self.assertEqual(os.stat(os.path.join(upper, "host-dir")).st_uid, 1000)
        self.assertEqual(os.stat(os.path.join(lower, "probe")).st_uid, 0)
        with open(os.path.join(merged, "made")) as f:
            self.assertEqual(f.read(), "in")

    def test_chown_fallback_where_idmapped_mounts_are_refused(self):
        # A rootfs inside an overlay (not its mount point) cannot be idmapped: overlayfs refuses.
        # Its files are chowned to the range for the container's life, then back.
        rootfs, lower_rootfs = self.rootfs_in_overlay(self.sc_bundle("id"))
        b = self.sc_bundle("stat", "/bin/busybox")
        b.spec["root"]["path"] = rootfs
        b.save()
        log = os.path.join(self.tmp, "runc.log")
        cid = self.new_id("chown")
        r = self.runc("--log", log, "run", "--bundle", b.path, cid)
        self.assertEqual(r.rc, 0, r)
        st = parse_kv(r.out)
        self.assertEqual((st["uid"], st["gid"]), ("0", "0"))
        with open(log) as f:
            self.assertIn("chowned to the container's range instead (slow", f.read())
        # Back to 0-based after delete; the lower layer never changed.
        self.assertEqual(os.stat(os.path.join(rootfs, "bin", "busybox")).st_uid, 0)
        self.assertEqual(os.stat(os.path.join(lower_rootfs, "bin", "busybox")).st_uid, 0)

    def test_shared_directory_between_two_ranges(self):
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared, 0o755)  # root-owned, no chmod 777
        a = self.sc_bundle("write", "/data/from-a", "a")
        a.add_mount("/data", "bind", shared, ["rbind", "rw"])
        self.assertEqual(self.run_container(a).rc, 0)
        host = os.stat(os.path.join(shared, "from-a"))
        self.assertEqual((host.st_uid, host.st_gid), (0, 0))
        b = self.sc_bundle("stat", "/data/from-a")
        b.add_mount("/data", "bind", shared, ["rbind", "rw"])
        st = parse_kv(self.run_container(b).out)
        self.assertEqual((st["uid"], st["gid"]), ("0", "0"))
        c = self.sc_bundle("write", "/data/from-a", "b overwrote")
        c.add_mount("/data", "bind", shared, ["rbind", "rw"])
        self.assertEqual(self.run_container(c).rc, 0)
        self.assertEqual(os.stat(shared).st_mode & 0o777, 0o755)

    def test_delete_keeps_the_range_for_the_id_and_removed_rootfs_frees_it(self):
        b = self.sc_bundle("sleep", "30")
        cid, _ = self.create(b)
        base = self.mgr_entry(cid)["uidBase"]
        self.assertEqual(self.mgr_entry(cid)["state"], "running")
        self.runc_ok("delete", "--force", cid)
        self.assertEqual(self.mgr_entry(cid)["state"], "stopped")
        # Same id again (docker stop; docker start): the same range.
        cid2, _ = self.create(b, cid=cid)
        pid = self.state(cid2)["pid"]
        with open(f"/proc/{pid}/uid_map") as f:
            self.assertEqual(uid_map_of(f.read())[0][1], base)
        self.runc_ok("delete", "--force", cid)
        shutil.rmtree(b.path)
        self.assertIsNone(self.mgr_entry(cid))

    def test_a_rootfs_rebuilt_at_the_same_path_frees_the_range(self):
        # A script that rebuilds its bundle for every run (the demo does) must not pile up
        # ranges: the rootfs at the path is another directory now.
        b = self.sc_bundle("true")
        cid, _ = self.create(b)
        self.runc_ok("delete", "--force", cid)
        self.assertEqual(self.mgr_entry(cid)["state"], "stopped")
        fresh = b.rootfs + ".new"
        shutil.copytree(b.rootfs, fresh, symlinks=True)
        shutil.rmtree(b.rootfs)
        os.rename(fresh, b.rootfs)
        self.assertIsNone(self.mgr_entry(cid))

    def test_inner_engine_store_at_var_lib_docker(self):
        # mgr's directory for an inner Docker: root-owned inside, the range's on the host, kept
        # for the id across runs, removed with the container.
        cid = self.new_id("store")
        b = self.sc_bundle("stat", "/var/lib/docker")
        # An image with Docker's data root (or dockerd, or its daemon.json) gets the store.
        os.makedirs(os.path.join(b.rootfs, "var", "lib", "docker"))
        r = self.run_container(b, cid=cid)
        self.assertEqual(r.rc, 0, r)
        kv = r.kv
        self.assertEqual((kv["type"], kv["uid"], kv["gid"], kv["mode"]),
                         ("dir", "0", "0", "0700"), r.out)
        base = self.mgr_entry(cid)["uidBase"]
        store = os.path.join(MGR.paths["data"], "docker", cid)
        st = os.stat(store)
        self.assertEqual((st.st_uid, st.st_gid), (base, base))
        with open(os.path.join(store, "kept"), "w") as f:
            f.write("inner image\n")
        os.chown(os.path.join(store, "kept"), base, base)
        b2 = self.sc_bundle("cat", "/var/lib/docker/kept")
        os.makedirs(os.path.join(b2.rootfs, "var", "lib", "docker"))
        r = self.run_container(b2, cid=cid)
        self.assertEqual(r.out, "inner image\n", r)
        shutil.rmtree(b.path)
        shutil.rmtree(b2.path)
        self.assertIsNone(self.mgr_entry(cid))
        self.assertFalse(os.path.exists(store))

    def test_inner_containerd_store_at_var_lib_containerd(self):
        cid = self.new_id("ctrd")
        b = self.sc_bundle("stat", "/var/lib/containerd")
        os.makedirs(os.path.join(b.rootfs, "usr", "bin"), exist_ok=True)
        open(os.path.join(b.rootfs, "usr", "bin", "containerd"), "w").close()  # the engine
        r = self.run_container(b, cid=cid)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual((r.kv["type"], r.kv["uid"]), ("dir", "0"), r.out)
        store = os.path.join(MGR.paths["data"], "containerd", cid)
        self.assertEqual(os.stat(store).st_uid, self.mgr_entry(cid)["uidBase"])
        # No Docker in this image: no /var/lib/docker store mounted (its directory is made).
        self.assertFalse(os.path.exists(os.path.join(b.rootfs, "var", "lib", "docker")))
        shutil.rmtree(b.path)
        self.assertIsNone(self.mgr_entry(cid))
        self.assertFalse(os.path.exists(store))

    def test_no_store_for_an_image_without_an_engine(self):
        r = self.probe("stat", "/var/lib/docker", expect_rc=None)
        self.assertNotEqual(r.rc, 0, r)  # nothing mounted, no mount point made

    def test_image_data_root_is_honoured(self):
        b = self.sc_bundle("stat", "/srv/docker-data")
        os.makedirs(os.path.join(b.rootfs, "etc", "docker"))
        with open(os.path.join(b.rootfs, "etc", "docker", "daemon.json"), "w") as f:
            json.dump({"data-root": "/srv/docker-data"}, f)
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        # Not in the image: it exists because mgr's store is mounted there, root-owned inside.
        self.assertEqual((r.kv["type"], r.kv["uid"]), ("dir", "0"), r.out)

    def test_mgr_down_fails_create_and_leaves_nothing(self):
        b = self.sc_bundle("id")
        cid = self.new_id("down")
        r = self.runc("--mgr-socket", os.path.join(self.tmp, "no.sock"), "create", "--bundle",
                      b.path, cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("sysvisor-mgr is not running (start it with", r.err)
        self.assertNotEqual(self.runc("state", cid).rc, 0)

    def test_no_mgr_uses_the_fixed_range_and_says_so(self):
        log = os.path.join(self.tmp, "runc.log")
        b = self.sc_bundle("cat", "/proc/self/uid_map")
        r = self.runc("--no-mgr", "--log", log, "run", "--bundle", b.path, self.new_id("nomgr"))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(uid_map_of(r.out), [(0, 231072, BLOCK)])
        self.assertIn("--no-mgr", open(log).read())

    def test_refused_host_namespaces_and_privileged(self):
        cases = [
            (lambda b: b.drop_namespace("pid"), "pid"),
            (lambda b: b.drop_namespace("network"), "net"),
            (lambda b: b.set_namespace("network", f"/proc/{os.getpid()}/ns/net"), "--net=host"),
        ]
        for mutate, needle in cases:
            b = self.sc_bundle("id")
            mutate(b)
            cid = self.new_id("refuse")
            r = self.runc("run", "--bundle", b.path, cid)
            self.assertNotEqual(r.rc, 0)
            self.assertIn(needle, r.err)
            self.assertIsNone(self.mgr_entry(cid), "a refused create keeps no range")

        def privileged(spec):
            spec["linux"]["maskedPaths"] = []
            spec["linux"]["readonlyPaths"] = []
            spec["linux"]["resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
            caps = [f"CAP_{n}" for n in ("SYS_ADMIN", "NET_ADMIN", "SYS_MODULE")]
            for k in ("bounding", "effective", "permitted"):
                spec["process"]["capabilities"][k] = caps
        b = self.sc_bundle("id", mutate=privileged)
        r = self.runc("run", "--bundle", b.path, self.new_id("priv"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("--privileged is not supported", r.err)

    def test_spec_mappings_kept_and_validated(self):
        def remap(base, size):
            def m(spec):
                spec["linux"]["namespaces"].append({"type": "user"})
                spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": base, "size": size}]
                spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": base, "size": size}]
            return m
        r = self.probe("cat", "/proc/self/uid_map", mutate=remap(300000, 65536))
        self.assertEqual(uid_map_of(r.out), [(0, 300000, 65536)])
        b = self.sc_bundle("id", mutate=remap(300000, 1000))
        r = self.runc("run", "--bundle", b.path, self.new_id("badmap"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("65536", r.err)

    # -- sysvisor-fs, without the daemon --------------------------------------------------

    def test_fs_down_fails_create_and_leaves_nothing(self):
        b = self.sc_bundle("id")
        cid = self.new_id("fsdown")
        r = self.runc("--no-fs=false", "--fs-socket", os.path.join(self.tmp, "no.sock"),
                      "create", "--bundle", b.path, cid)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("sysvisor-fs is not running (start it with `systemctl start sysvisor-fs` "
                      "or `sysvisor-fs &`; socket", r.err)
        self.assertNotEqual(self.runc("state", cid).rc, 0)
        self.assertFalse(os.path.exists(os.path.join(self.root, cid)))
        # Checked before mgr is asked: no range was handed out. (tearDown checks mounts,
        # cgroups and processes.)
        self.assertIsNone(self.mgr_entry(cid))

    def test_fs_failing_after_the_clone_undoes_the_whole_create(self):
        # A daemon that accepts and hangs up: the connection made before anything exists
        # succeeds, the registration (the init is cloned and in its cgroups by then) fails.
        path = os.path.join(self.tmp, "hangup.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(8)
        accepted = []

        def serve():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                accepted.append(1)
                conn.close()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            b = self.sc_bundle("sleep", "30")
            cid = self.new_id("fshangup")
            r = self.runc("--no-fs=false", "--fs-socket", path, "create", "--bundle", b.path, cid)
        finally:
            srv.shutdown(socket.SHUT_RDWR)
            srv.close()
            t.join(5)
        self.assertNotEqual(r.rc, 0)
        self.assertIn("sysvisor-fs closed the connection", r.err)
        self.assertTrue(accepted)
        self.assertNotEqual(self.runc("state", cid).rc, 0)
        self.assertFalse(os.path.exists(os.path.join(self.root, cid)))
        # The range mgr allocated for this create is free again.
        self.assertIsNone(self.mgr_entry(cid))
        self.check_clean()

    def test_no_fs_runs_without_emulation_and_says_so(self):
        log = os.path.join(self.tmp, "runc.log")
        b = self.sc_bundle("mounts")
        r = self.runc("--no-fs", "--log", log, "run", "--bundle", b.path, self.new_id("nofs"))
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("fuse", r.out)
        with open(log) as f:
            self.assertIn("--no-fs: started without sysvisor-fs", f.read())
        # SYSVISOR_NO_FS=1 does the same for callers that cannot pass flags (dockerd).
        log2 = os.path.join(self.tmp, "runc-env.log")
        argv = [svtest.RUNC, "--mgr-socket", MGR.paths["mgr.sock"], "--root", self.root,
                "--log", log2, "run", "--bundle", b.path, self.new_id("nofsenv")]
        r = svtest.run_argv(argv, env=dict(os.environ, SYSVISOR_NO_FS="1"))
        self.assertEqual(r.rc, 0, r)
        with open(log2) as f:
            self.assertIn("--no-fs: started without sysvisor-fs", f.read())

    def test_delete_with_fs_down_warns_and_frees_everything(self):
        b = self.sc_bundle("sleep", "30")
        cid, _ = self.create(b)
        # As if it had registered with a daemon that is gone now.
        path = os.path.join(self.root, cid, "state.json")
        with open(path) as f:
            st = json.load(f)
        st["fsSocket"] = os.path.join(self.tmp, "gone.sock")
        st["fsRegistered"] = True
        with open(path, "w") as f:
            json.dump(st, f)
        log = os.path.join(self.tmp, "runc.log")
        self.runc_ok("--log", log, "delete", "--force", cid)
        with open(log) as f:
            self.assertIn("telling sysvisor-fs: sysvisor-fs is not running", f.read())
        self.assertEqual(self.mgr_entry(cid)["state"], "stopped")
        self.check_clean()


# -- sysvisor-fs, with a private daemon ------------------------------------------------------

class SystemdInitTest(svtest.ContainerTest):
    """An init that resolves to systemd (here a busybox script at /lib/systemd/systemd behind
    /sbin/init): /run is tmpfs, container=sysvisor, /dev/console is a pty relayed to the init's
    stdout, and `kill` (SIGTERM) reaches it as SIGRTMIN+3."""

    def systemd_bundle(self, script):
        b = self.bundle(args=["/sbin/init"])
        for d in ("lib/systemd", "sbin"):
            os.makedirs(os.path.join(b.rootfs, d), exist_ok=True)
        init = os.path.join(b.rootfs, "lib/systemd/systemd")
        with open(init, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(init, 0o755)
        os.symlink("/lib/systemd/systemd", os.path.join(b.rootfs, "sbin/init"))
        return b

    def started(self, script):
        """Creates (stdout to a file) and starts a container whose systemd is `script`, then
        waits for it to print "ready" on its console. Returns (id, output file, state.json)."""
        out = os.path.join(self.tmp, "console.out")
        cid, _ = self.create(self.systemd_bundle(script), stdout=out)
        with open(os.path.join(self.root, cid, "state.json")) as f:
            st = json.load(f)
        self.start(cid)
        self.wait_text(out, "ready\n")
        return cid, out, st

    def wait_text(self, path, text, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            with open(path) as f:
                got = f.read()
            if text in got:
                return got
            if time.monotonic() > deadline:
                self.fail(f"{text!r} never came in {path}: {got!r}")
            time.sleep(0.05)

    def test_console_run_tmpfs_and_halt_signal(self):
        script = ('echo "container=$container" >/dev/console\n'
                  'grep " /run " /proc/self/mounts >/dev/console\n'
                  'echo "stdout stays stdout"\n'
                  "trap 'echo halting on 37 >/dev/console; exit 0' 37\n"
                  "trap 'echo got TERM >/dev/console' TERM\n"
                  'echo ready >/dev/console\n'
                  'while :; do sleep 0.05; done\n')
        cid, out, st = self.started(script)
        self.assertTrue(st["systemdInit"])
        relay, _start = st["consoleRelay"]
        with open(f"/proc/{relay}/comm") as f:
            self.assertEqual(f.read().strip(), "sv-console")
        got = self.wait_text(out, "ready\n")
        self.assertIn("container=sysvisor\n", got)
        self.assertIn("stdout stays stdout\n", got)
        self.assertRegex(got, r"tmpfs /run tmpfs rw,nosuid,nodev,[^ ]*mode=755")
        self.assertNotIn("\r", got)
        self.runc_ok("kill", cid)  # SIGTERM, as `docker stop` sends it
        self.wait_status(cid, "stopped")
        got = self.wait_text(out, "halting on 37\n")
        self.assertNotIn("got TERM", got)
        # The relay drains the console and goes with the container.
        def relay_running():
            try:
                with open(f"/proc/{relay}/stat") as f:
                    return f.read().split(") ")[1][0] != "Z"
            except FileNotFoundError:
                return False
        deadline = time.monotonic() + 10
        while relay_running():
            self.assertLess(time.monotonic(), deadline, "the console relay is still running")
            time.sleep(0.05)
        self.runc_ok("delete", cid)

    def test_kill_all_and_other_signals_are_not_translated(self):
        script = ("trap 'echo TERM >/dev/console' TERM\n"
                  "trap 'echo HUP >/dev/console' HUP\n"
                  'echo ready >/dev/console\n'
                  'while :; do sleep 0.05; done\n')
        cid, out, _ = self.started(script)
        self.runc_ok("kill", cid, "HUP")
        self.wait_text(out, "HUP\n")
        self.runc_ok("kill", "--all", cid, "TERM")
        self.wait_text(out, "TERM\n")
        self.runc_ok("delete", "--force", cid)

    def test_without_a_reader_there_is_no_relay(self):
        # stdout on /dev/null: nothing would read the console.
        b = self.systemd_bundle('while :; do sleep 1; done\n')
        cid, _ = self.create(b, stdout=os.devnull)
        with open(os.path.join(self.root, cid, "state.json")) as f:
            st = json.load(f)
        self.assertTrue(st["systemdInit"])
        self.assertNotIn("consoleRelay", st)
        self.runc_ok("delete", "--force", cid)


class FsTest(svtest.ContainerTest):
    """The runtime's side of sysvisor-fs against the real daemon: registration between the
    clone and the init's mounts, the binds over /proc and /sys, unregistration at delete."""

    fs = FS

    def sc_bundle(self, *args, **kw):
        return self.bundle(args=["/probe", *args], **kw)

    def test_emulated_files_are_bound_over_proc_and_sys(self):
        r = self.probe("mounts")
        mounts = {}
        for line in r.out.splitlines():
            f = line.split()
            mounts.setdefault(f[4], []).append((f[5], line.split(" - ")[1].split()[0]))
        for path in ("/proc/uptime", "/proc/sys"):
            self.assertIn(path, mounts, r.out)
            opts, fstype = mounts[path][0]
            self.assertTrue(fstype.startswith("fuse"), (path, fstype))
            # Plain read-write binds with /proc's flags.
            for o in ("rw", "nosuid", "nodev", "noexec"):
                self.assertIn(o, opts.split(","), (path, opts))
        # The container's uptime, not the host's.
        up = float(self.probe("cat", "/proc/uptime").out.split()[0])
        self.assertLess(up, 60)

    def test_mgr_status_shows_both_daemons(self):
        r = subprocess.run([BIN, "mgr", "status", "--socket", MGR.paths["mgr.sock"],
                            "--fs-socket", self.fs.paths["fs.sock"]],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        fs_line = r.stdout.splitlines()[1]
        self.assertRegex(fs_line, rf"^sysvisor-fs \d+\.\d+\.\d+: running, pid "
                                  rf"{self.fs.proc.pid}, up \d+(s|m\d+s), \d+ containers? at "
                                  rf"{self.fs.paths['mnt']}$")

    def test_registered_at_create_and_unregistered_at_delete(self):
        b = self.sc_bundle("sleep", "30")
        cid, _ = self.create(b)
        entry = {c["id"]: c for c in self.fs.status()["containers"]}.get(cid)
        self.assertIsNotNone(entry)
        self.assertEqual(entry["initPid"], self.state(cid)["pid"])
        with open(os.path.join(self.root, cid, "state.json")) as f:
            st = json.load(f)
        self.assertEqual(st["fsSocket"], self.fs.paths["fs.sock"])
        self.assertTrue(st["fsRegistered"])
        self.runc_ok("delete", "--force", cid)
        self.assertNotIn(cid, self.fs.ids())


if __name__ == "__main__":
    svtest.main()
