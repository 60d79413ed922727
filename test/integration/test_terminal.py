#!/usr/bin/env python3
"""process.terminal: the pty the container gets (controlling terminal, stdio, /dev/console),
--console-socket handing the master to a listener, and foreground `run`/`exec` relaying a pty
between the caller's terminal and the container (raw mode, window size, Ctrl-C), driven from a
real pty here and through script(1)."""

import array
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import svtest
from svtest import ContainerTest, RUNC, GLOBAL_ARGS


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def read_until(fd, needle, timeout=10):
    """Reads fd until `needle` (bytes) shows up; returns everything read."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        buf += chunk
    if needle not in buf:
        raise AssertionError(f"{needle!r} never came; got {buf!r}")
    return buf


def read_all(fd, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def kv(data):
    out = {}
    for line in data.decode(errors="replace").replace("\r", "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


class Terminal(ContainerTest):
    def tty_bundle(self, args):
        return self.bundle(args=args, terminal=True)

    def spawn_in_pty(self, argv, rows=24, cols=80):
        """Starts argv with a fresh pty as its controlling terminal and stdio; returns
        (process, master fd)."""
        master, slave = os.openpty()
        set_winsize(slave, rows, cols)

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                             preexec_fn=ctty, close_fds=True)
        os.close(slave)
        self.children.append(p)
        self.addCleanup(os.close, master)
        return p, master

    def runtime(self, *args):
        return [RUNC, *GLOBAL_ARGS, "--root", self.root, *args]

    def console_listener(self):
        path = os.path.join(self.tmp, "console.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        self.addCleanup(srv.close)
        return path, srv

    @staticmethod
    def receive_master(srv, timeout=10):
        srv.settimeout(timeout)
        conn, _ = srv.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        assert len(fds) == 1, fds
        return msg, fds[0]

    # -- foreground run ------------------------------------------------------------------

    def test_run_foreground_gets_a_real_controlling_terminal(self):
        b = self.tty_bundle(["/probe", "tty"])
        p, master = self.spawn_in_pty(self.runtime("run", "-b", b.path, self.new_id("fg")),
                                      rows=33, cols=101)
        out = read_all(master)
        self.assertEqual(p.wait(10), 0, out)
        t = kv(out)
        self.assertEqual((t["tty0"], t["tty1"], t["tty2"]), ("1", "1", "1"), out)
        self.assertTrue(t["name"].startswith("/dev/pts/"), out)
        self.assertEqual(t["session_leader"], "1", out)
        self.assertEqual(t["ctty"], "1", out)
        self.assertEqual(t["foreground"], "1", out)
        self.assertEqual((t["rows"], t["cols"]), ("33", "101"), "window size of the caller")
        self.assertEqual(t["console_is_stdin"], "1", "/dev/console must be the pty")
        self.check_clean()

    def test_interactive_shell_exit_code_and_restored_terminal(self):
        b = self.tty_bundle(["/bin/sh"])
        master, slave = os.openpty()
        before = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
        p, master = self.spawn_in_pty(self.runtime("run", "-b", b.path, self.new_id("sh")))
        os.write(master, b"echo hello-$((6*7))\n")
        read_until(master, b"hello-42")
        os.write(master, b"exit 3\n")
        self.assertEqual(p.wait(10), 3)
        # A fresh pty's settings are the defaults; the runtime put its stdin in raw mode while
        # relaying: check it had the line discipline back (echo, icanon) when it left.
        attrs = termios.tcgetattr(master)  # same terminal as the slave side
        self.assertTrue(attrs[3] & termios.ICANON, "canonical mode restored")
        self.assertTrue(attrs[3] & termios.ECHO, "echo restored")
        self.assertEqual(attrs[3] & (termios.ICANON | termios.ECHO | termios.ISIG),
                         before[3] & (termios.ICANON | termios.ECHO | termios.ISIG))
        self.check_clean()

    def test_ctrl_c_reaches_the_container_through_its_pty(self):
        # sleep must not be the last command: sh would exec it, and as pid 1 of its namespace
        # it would ignore SIGINT; sh, pid 1 too, needs a handler to see it.
        b = self.tty_bundle(["/bin/sh", "-c",
                             "trap 'echo sh-got-int' INT; echo ready; sleep 100; echo after-$?"])
        p, master = self.spawn_in_pty(self.runtime("run", "-b", b.path, self.new_id("int")))
        read_until(master, b"ready")
        time.sleep(0.2)
        os.write(master, b"\x03")  # ^C: raw on our side, the container's pty makes SIGINT
        out = read_until(master, f"after-{128 + signal.SIGINT}".encode())
        self.assertIn(b"sh-got-int", out)
        self.assertEqual(p.wait(10), 0)
        self.check_clean()

    def test_window_size_changes_follow(self):
        b = self.tty_bundle(["/bin/sh"])
        p, master = self.spawn_in_pty(self.runtime("run", "-b", b.path, self.new_id("win")),
                                      rows=20, cols=60)
        os.write(master, b"/probe tty; echo END$((0+1))\n")  # the echo of the line differs
        t = kv(read_until(master, b"END1\r\n"))
        self.assertEqual((t["rows"], t["cols"]), ("20", "60"))
        set_winsize(master, 51, 177)  # the kernel sends SIGWINCH to the runtime
        time.sleep(0.3)
        os.write(master, b"/probe tty; echo END$((1+1))\n")
        t = kv(read_until(master, b"END2\r\n").split(b"END1")[-1])
        self.assertEqual((t["rows"], t["cols"]), ("51", "177"))
        os.write(master, b"exit\n")
        self.assertEqual(p.wait(10), 0)

    def test_run_through_script(self):
        b = self.tty_bundle(["/bin/sh"])
        cmd = " ".join(self.runtime("run", "-b", b.path, self.new_id("scr")))
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                           input=b"echo via-$((1+1))-script\nexit 7\n", capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 7, r)
        self.assertIn(b"via-2-script", r.stdout)
        self.check_clean()

    def test_output_written_just_before_exit_is_not_lost(self):
        b = self.tty_bundle(["/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i; "
                                              "i=$((i+1)); done; echo LAST"])
        p, master = self.spawn_in_pty(self.runtime("run", "-b", b.path, self.new_id("drn")))
        out = read_until(master, b"LAST", timeout=20)
        self.assertEqual(p.wait(10), 0)
        self.assertIn(b"line-1999\r\n", out)

    # -- console socket ------------------------------------------------------------------

    def test_console_socket_receives_a_working_pty(self):
        path, srv = self.console_listener()
        b = self.tty_bundle(["/bin/sh"])
        cid = self.new_id("cs")
        r = self.runc("create", "--console-socket", path, "-b", b.path, cid)
        self.assertEqual(r.rc, 0, r)
        name, master = self.receive_master(srv)
        self.addCleanup(os.close, master)
        self.assertEqual(name, b"/dev/ptmx")
        self.assertEqual(self.state(cid)["status"], "created")
        self.start(cid)
        os.write(master, b"/probe tty; echo DO$((0))NE\n")
        t = kv(read_until(master, b"DO0NE\r\n"))
        self.assertEqual((t["tty0"], t["ctty"], t["console_is_stdin"]), ("1", "1", "1"))
        os.write(master, b"exit 0\n")
        self.wait_status(cid, "stopped")
        self.runc_ok("delete", cid)
        self.check_clean()

    def test_console_size_from_config(self):
        path, srv = self.console_listener()
        b = self.tty_bundle(["/probe", "tty"])
        b.spec["process"]["consoleSize"] = {"height": 42, "width": 99}
        b.save()
        cid = self.new_id("csz")
        self.assertEqual(self.runc("run", "-d", "--console-socket", path, "-b", b.path, cid).rc, 0)
        _, master = self.receive_master(srv)
        self.addCleanup(os.close, master)
        t = kv(read_all(master, timeout=5))
        self.assertEqual((t["rows"], t["cols"]), ("42", "99"))

    def test_exec_tty_foreground_and_console_socket(self):
        cid = self.run_detached(self.bundle(args=["/probe", "sleep", "1000"]))
        p, master = self.spawn_in_pty(self.runtime("exec", "-t", cid, "/probe", "tty"),
                                      rows=11, cols=22)
        out = read_all(master)
        self.assertEqual(p.wait(10), 0, out)
        t = kv(out)
        self.assertEqual((t["tty0"], t["tty1"], t["ctty"], t["session_leader"]),
                         ("1", "1", "1", "1"), out)
        self.assertEqual((t["rows"], t["cols"]), ("11", "22"))
        path, srv = self.console_listener()
        r = self.runc("exec", "-d", "-t", "--console-socket", path, cid, "/bin/sh")
        self.assertEqual(r.rc, 0, r)
        _, m2 = self.receive_master(srv)
        self.addCleanup(os.close, m2)
        os.write(m2, b"echo in-exec-$((2*21)); exit\n")
        read_until(m2, b"in-exec-42")

    # -- errors ---------------------------------------------------------------------------

    def test_terminal_rules_and_errors_leave_nothing(self):
        b = self.tty_bundle(["/probe", "id"])
        r = self.runc("create", "-b", b.path, self.new_id("e1"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("console socket", r.err)
        r = self.runc("run", "-d", "-b", b.path, self.new_id("e2"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("console socket", r.err)
        path, _ = self.console_listener()
        plain = self.bundle(args=["/probe", "id"])
        r = self.runc("create", "--console-socket", path, "-b", plain.path, self.new_id("e3"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("cannot use console socket", r.err)
        r = self.runc("create", "--console-socket", os.path.join(self.tmp, "nobody.sock"),
                      "-b", b.path, self.new_id("e4"))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("nobody.sock", r.err)
        self.check_clean()

    def test_listener_that_closes_early_leaves_nothing(self):
        # The listener accepts and hangs up at once: the runtime must fail cleanly or hand
        # over the master; either way nothing may be left once the container is deleted.
        path, srv = self.console_listener()
        b = self.tty_bundle(["/probe", "id"])
        cid = self.new_id("hup")
        p = subprocess.Popen(self.runtime("create", "--console-socket", path, "-b", b.path, cid),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        conn, _ = srv.accept()
        conn.close()
        p.communicate(timeout=20)
        self.runc("delete", "--force", cid)
        self.check_clean()


if __name__ == "__main__":
    svtest.main()
