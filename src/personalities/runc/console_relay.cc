#include "personalities/runc/console_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/process.h"
#include "base/sys_error.h"

namespace sv::runc {

namespace {

constexpr int kMaster = 3, kInit = 4;  // the relay's fds (1 is the output)
constexpr size_t kChunk = 65536;

// Line ends as "\n": every '\r' right before a '\n' goes. systemd writes "\r\n" to a tty on
// purpose, and the tty's output processing (ONLCR, which systemd turns on) makes that
// "\r\r\n". A lone '\r' (a progress line) stays. The '\r's that end a chunk wait in pendingCr
// for the next one; out has room for n + kMaxPendingCr bytes. No allocation: this runs in the
// forked relay.
constexpr unsigned kMaxPendingCr = 16;
size_t filterCr(const char* in, size_t n, char* out, unsigned& pendingCr) noexcept {
  size_t o = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = in[i];
    if (c == '\r') {
      if (pendingCr == kMaxPendingCr) out[o++] = '\r';  // a run that long is no line end
      else ++pendingCr;
      continue;
    }
    if (c != '\n')
      for (; pendingCr > 0; --pendingCr) out[o++] = '\r';
    pendingCr = 0;
    out[o++] = c;
  }
  return o;
}

// Writes everything, or gives up on the output for good (a reader that went away): the
// console is still drained so that the container never blocks on it.
void emit(const char* p, size_t n, bool& outputOk) noexcept {
  while (outputOk && n > 0) {
    ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      outputOk = false;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// A slave fd of our own keeps the master readable between the container's opens of
// /dev/console (systemd opens it for every message; with no slave open the master reports
// POLLHUP/EIO). A hangup inside (agetty's vhangup) invalidates it: then it is opened again.
int openPeer(int old) noexcept {
  if (old >= 0) ::close(old);
  return ::ioctl(kMaster, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

[[noreturn]] void relayMain(int master, int out, int initPidfd) noexcept {
  becomeDetachedHelper("sv-console");
  // Only the console, the init's pidfd and the output stay open.
  int m = ::fcntl(master, F_DUPFD_CLOEXEC, 100), p = ::fcntl(initPidfd, F_DUPFD_CLOEXEC, 100),
      o = out == STDOUT_FILENO ? STDOUT_FILENO : ::fcntl(out, F_DUPFD_CLOEXEC, 100);
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (m < 0 || p < 0 || o < 0 || null < 0) ::_exit(1);
  if (o != STDOUT_FILENO && ::dup2(o, STDOUT_FILENO) < 0) ::_exit(1);
  if (::dup2(null, STDIN_FILENO) < 0 || ::dup2(null, STDERR_FILENO) < 0 ||
      ::dup3(m, kMaster, O_CLOEXEC) < 0 || ::dup3(p, kInit, O_CLOEXEC) < 0)
    ::_exit(1);
  ::syscall(SYS_close_range, kInit + 1, ~0U, 0);
  int peer = openPeer(-1);

  static char in[kChunk], filtered[kChunk + kMaxPendingCr];
  unsigned pendingCr = 0;
  bool outputOk = true;
  auto pump = [&]() noexcept {  // one read; false when there was nothing to read
    ssize_t n = ::read(kMaster, in, kChunk);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    emit(filtered, filterCr(in, static_cast<size_t>(n), filtered, pendingCr), outputOk);
    return true;
  };
  struct pollfd fds[2] = {{kMaster, POLLIN, 0}, {kInit, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    if (fds[1].revents) break;  // the init exited
    if (fds[0].revents & POLLIN) {
      if (pump()) continue;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      // Hung up (EIO with nothing to read): a slave of our own again, then a short wait so
      // that a console nobody can reopen does not spin.
      peer = openPeer(peer);
      struct pollfd init = {kInit, POLLIN, 0};
      ::poll(&init, 1, 20);
    }
  }
  // The container is going: what it wrote last (systemd's "Halting system.") still comes
  // out. Its processes may take a moment to die; stop after 200 ms of silence.
  ::fcntl(kMaster, F_SETFL, O_NONBLOCK);
  for (int quiet = 0; quiet < 10;) {
    if (pump()) {
      quiet = 0;
      continue;
    }
    struct pollfd pm = {kMaster, POLLIN, 0};
    if (::poll(&pm, 1, 20) <= 0 || !(pm.revents & POLLIN)) ++quiet;
  }
  for (; pendingCr > 0; --pendingCr) emit("\r", 1, outputOk);
  ::_exit(0);
}

}  // namespace

std::string stripCrBeforeLf(std::string_view data, unsigned& pendingCr) {
  std::string out(data.size() + kMaxPendingCr, '\0');
  out.resize(filterCr(data.data(), data.size(), out.data(), pendingCr));
  return out;
}

ConsoleRelay startConsoleRelay(int master, int out, int initPidfd) {
  pid_t pid = SV_SYSCALL(::fork(), "starting the console relay");
  if (pid == 0) relayMain(master, out, initPidfd);
  auto st = readProcStat(pid);
  return {pid, st ? st->startTime : 0};
}

void stopConsoleRelay(const ConsoleRelay& relay) noexcept {
  if (UniqueFd fd = openIfSame(relay.pid, relay.startTime)) pidfdSignal(fd.get(), SIGKILL);
}

}  // namespace sv::runc
