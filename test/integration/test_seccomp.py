#!/usr/bin/env python3
"""linux.seccomp through real containers: a rule makes a chosen syscall fail with the chosen
errno (also for `exec`), kill actions kill, the filter holds for a non-root user without
no_new_privs, a notify rule reaches a seccomp agent at listenerPath with the container's
state, and a bad profile is refused before anything exists."""

import errno
import json
import os
import signal
import socket
import struct
import threading

import svtest
from svtest import ContainerTest

# <linux/seccomp.h>: struct seccomp_notif is 80 bytes, seccomp_notif_resp 24.
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101


def profile(rules, default="SCMP_ACT_ALLOW", **extra):
    p = {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                     "SCMP_ARCH_X32"], "syscalls": rules}
    p.update(extra)
    return p


class Seccomp(ContainerTest):
    def seccomp_bundle(self, args, prof, user=None, nnp=True):
        def mutate(s):
            s["linux"]["seccomp"] = prof
            s["process"]["noNewPrivileges"] = nnp
            if user is not None:
                s["process"]["user"] = {"uid": user, "gid": user}
        return self.bundle(args=args, mutate=mutate)

    def test_errno_rule_fails_the_chosen_syscall_with_the_chosen_errno(self):
        prof = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": errno.EXDEV}])
        r = self.run_container(self.seccomp_bundle(["/probe", "mkdir", "/tmp/x"], prof))
        self.assertEqual(r.kv.get("errno"), str(errno.EXDEV), r)
        # Without errnoRet: EPERM.
        prof = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
        r = self.run_container(self.seccomp_bundle(["/probe", "mkdir", "/tmp/x"], prof))
        self.assertEqual(r.kv.get("errno"), str(errno.EPERM), r)
        # Other syscalls are untouched.
        r = self.run_container(self.seccomp_bundle(["/probe", "id"], prof))
        self.assertEqual(r.rc, 0, r)
        self.check_clean()

    def test_argument_filter(self):
        # personality(0xffffffff) only queries; refuse just PER_LINUX32 (8).
        prof = profile([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": errno.ENOTSUP,
                         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}])
        r = self.run_container(self.seccomp_bundle(["/bin/linux32", "/probe", "id"], prof))
        self.assertNotEqual(r.rc, 0, r)
        r = self.run_container(self.seccomp_bundle(["/probe", "id"], prof))
        self.assertEqual(r.rc, 0, r)

    def test_kill_process(self):
        prof = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}])
        b = self.seccomp_bundle(["/bin/sh", "-c", "/probe mkdir /tmp/x; echo rc=$?"], prof)
        r = self.run_container(b)
        self.assertEqual(r.rc, 0, r)
        self.assertIn(f"rc={128 + signal.SIGSYS}", r.out)

    @svtest.sysvisor_only("runc's Go init makes many more syscalls under the filter")
    def test_default_errno_with_allow_list_and_non_root_user_without_nnp(self):
        # Without no_new_privs the filter needs CAP_SYS_ADMIN: it must go in before the
        # switch to uid 1000 drops it, and everything after must pass it.
        allowed = ["execve", "execveat", "exit", "exit_group", "brk", "mmap", "munmap",
                   "mprotect", "arch_prctl", "set_tid_address", "write", "writev", "read",
                   "openat", "close", "fstat", "newfstatat", "getuid", "getgid", "geteuid",
                   "getegid", "getgroups", "umask", "prctl", "capset", "capget", "setgroups",
                   "setresuid", "setresgid", "chdir", "stat", "access", "faccessat2",
                   "close_range", "fcntl", "sendto", "sendmsg", "rt_sigprocmask",
                   "rt_sigaction", "ioctl", "lseek", "getpid", "uname", "readlink",
                   "set_robust_list", "rseq", "prlimit64", "getrandom", "futex"]
        prof = profile([{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
                       default="SCMP_ACT_ERRNO")
        r = self.run_container(self.seccomp_bundle(["/probe", "id"], prof, user=1000, nnp=False))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.kv.get("uid"), "1000", r)
        r = self.run_container(self.seccomp_bundle(["/probe", "mkdir", "/tmp/x"], prof, user=0,
                                                   nnp=False))
        self.assertEqual(r.kv.get("errno"), str(errno.EPERM), r)

    def test_exec_gets_the_containers_filter(self):
        prof = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                         "errnoRet": errno.EMLINK}])
        cid = self.run_detached(self.seccomp_bundle(["/probe", "sleep", "1000"], prof))
        r = self.runc("exec", cid, "/probe", "mkdir", "/tmp/y")
        self.assertEqual(r.kv.get("errno"), str(errno.EMLINK), r)

    def test_notify_reaches_the_agent(self):
        sock_path = os.path.join(self.tmp, "agent.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(sock_path)
        srv.listen(1)
        srv.settimeout(20)
        self.addCleanup(srv.close)
        got = {}

        def agent():
            conn, _ = srv.accept()
            with conn:
                msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            got["state"] = json.loads(msg)
            fd = fds[0]
            try:
                buf = bytearray(80)
                import fcntl
                fcntl.ioctl(fd, NOTIF_RECV, buf)
                nid, pid, _flags, nr = struct.unpack_from("=QIIi", buf)
                got["nr"] = nr
                fcntl.ioctl(fd, NOTIF_SEND, bytearray(struct.pack("=QqiI", nid, 0,
                                                                  -errno.EXDEV, 0)))
            finally:
                os.close(fd)

        t = threading.Thread(target=agent, daemon=True)
        t.start()
        prof = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
                       listenerPath=sock_path, listenerMetadata="meta-42")
        cid = self.new_id("ntf")
        r = self.runc("run", "--bundle",
                      self.seccomp_bundle(["/probe", "mkdir", "/tmp/z"], prof).path, cid)
        t.join(20)
        self.assertEqual(r.kv.get("errno"), str(errno.EXDEV), r)
        st = got["state"]
        self.assertEqual(st["fds"], ["seccompFd"])
        self.assertEqual(st["metadata"], "meta-42")
        self.assertEqual(st["state"]["id"], cid)
        self.assertGreater(st["pid"], 0)
        self.assertEqual(got["nr"], 83, "mkdir is syscall 83 on x86_64")
        self.check_clean()

    def test_notify_without_an_agent_fails_cleanly(self):
        prof = profile([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
                       listenerPath=os.path.join(self.tmp, "nobody.sock"))
        r = self.run_container(self.seccomp_bundle(["/probe", "id"], prof))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("nobody.sock", r.err)
        self.check_clean()

    @svtest.sysvisor_only("runc's messages do not name the field")
    def test_bad_profiles_are_refused_before_anything_exists(self):
        cases = [
            (profile([{"names": ["mkdir"], "action": "SCMP_ACT_SOMETIMES"}]), "action"),
            (profile([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                       "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]), "index"),
            (profile([], default="SCMP_ACT_NOTIFY"), "defaultAction"),
        ]
        for prof, word in cases:
            with self.subTest(word=word):
                r = self.run_container(self.seccomp_bundle(["/probe", "id"], prof))
                self.assertNotEqual(r.rc, 0)
                self.assertIn("linux.seccomp", r.err)
                self.assertIn(word, r.err)
        self.check_clean()


if __name__ == "__main__":
    svtest.main()
