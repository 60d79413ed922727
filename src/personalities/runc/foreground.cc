#include "personalities/runc/foreground.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/write.hpp>
#include <cstring>
#include <optional>

#include "base/fd_passing.h"
#include "base/sys_error.h"

namespace sv::runc {

void checkTerminalOptions(bool terminal, bool detached, const std::string& consoleSocket) {
  // runc's words, which engines know.
  if (detached && terminal && consoleSocket.empty())
    throw UserError(
        "cannot allocate tty if runc will detach without setting console socket: pass "
        "--console-socket <path of a listening AF_UNIX socket>, or set process.terminal false");
  if ((!detached || !terminal) && !consoleSocket.empty())
    throw UserError(
        "cannot use console socket if runc will not detach or allocate tty: --console-socket "
        "needs process.terminal true (exec: --tty) and a detached container");
}

UniqueFd connectConsoleSocket(const std::string& path) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw UserError(fmt::format("--console-socket \"{}\": path is longer than {} bytes", path,
                                sizeof addr.sun_path - 1));
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(SV_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "console socket"));
  int r;
  do {
    r = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (r < 0 && errno == EINTR);
  if (r < 0)
    throw UserError(fmt::format("cannot connect to --console-socket \"{}\": {} (it must be a "
                                "listening AF_UNIX stream socket)",
                                path, std::strerror(errno)));
  return fd;
}

void sendPtyMaster(int socket, int master) {
  // The payload names the file, as runc's utils.SendFd does.
  static constexpr char kName[] = "/dev/ptmx";
  SV_SYSCALL(sendWithFd(socket, kName, sizeof kName - 1, master),
             "sending the pty master to --console-socket");
}

WinSize callerWindowSize() {
  struct winsize ws {};
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && (ws.ws_row || ws.ws_col)) return {ws.ws_row, ws.ws_col};
  return {};
}

sigset_t forwardableSignals() {
  sigset_t all;
  sigfillset(&all);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) sigdelset(&all, sig);
  return all;
}

namespace {

// Our stdin in raw mode for the length of a terminal session (the container's pty does the
// line discipline), and its file status flags as they were: asio makes descriptors
// non-blocking, and that flag belongs to the open file our caller shares.
class StdinState {
 public:
  explicit StdinState(bool raw) {
    flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
    if (raw && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      struct termios t = saved_;
      ::cfmakeraw(&t);
      if (::tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) raw_ = true;
    }
  }
  ~StdinState() {
    if (raw_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    if (flags_ >= 0) ::fcntl(STDIN_FILENO, F_SETFL, flags_);
  }
  StdinState(const StdinState&) = delete;
  StdinState& operator=(const StdinState&) = delete;

 private:
  struct termios saved_ {};
  bool raw_ = false;
  int flags_ = -1;
};

class Foreground {
 public:
  Foreground(ChildGuard& child, const sigset_t& forwarded, UniqueFd master)
      : child_(child), signals_(io_), pidfd_(io_) {
    signals_.assign(SV_SYSCALL(::signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK), "signals"));
    pidfd_.assign(SV_SYSCALL(::dup(child.pidfd()), "pidfd"));
    if (master) {
      master_.emplace(io_, master.release());
      in_.emplace(io_, SV_SYSCALL(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3), "stdin"));
      out_.emplace(io_, SV_SYSCALL(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3), "stdout"));
    }
  }

  int run() {
    std::optional<StdinState> stdinState;
    if (master_) {
      stdinState.emplace(::isatty(STDIN_FILENO) == 1);
      resize();
      readMaster();
      readStdin();
    }
    waitSignal();
    pidfd_.async_wait(asio::posix::descriptor_base::wait_read, [this](const asio::error_code&) {
      drainMaster();
      io_.stop();
    });
    io_.run();
    int code = waitExitCode(child_.pidfd());
    (void)child_.release();
    return code;
  }

 private:
  void waitSignal() {
    signals_.async_wait(asio::posix::descriptor_base::wait_read, [this](const asio::error_code& ec) {
      if (ec) return;
      struct signalfd_siginfo si;
      while (::read(signals_.native_handle(), &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGWINCH) resize();
        else if (sig != SIGCHLD && sig != SIGURG) pidfdSignal(child_.pidfd(), sig);
      }
      waitSignal();
    });
  }

  void resize() {
    struct winsize ws {};
    if (master_ && ::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
      ::ioctl(master_->native_handle(), TIOCSWINSZ, &ws);
  }

  void readMaster() {
    master_->async_read_some(asio::buffer(fromPty_), [this](const asio::error_code& ec, size_t n) {
      // EIO: every slave fd is closed (the process and its children are gone).
      if (ec) return;
      writeOut(n);
      readMaster();
    });
  }

  void readStdin() {
    in_->async_read_some(asio::buffer(fromIn_), [this](const asio::error_code& ec, size_t n) {
      if (ec) return;  // EOF or an unreadable stdin: the terminal stays open, as with runc
      asio::error_code wec;
      asio::write(*master_, asio::buffer(fromIn_.data(), n), wec);
      if (!wec) readStdin();
    });
  }

  void writeOut(size_t n) {
    asio::error_code ec;
    asio::write(*out_, asio::buffer(fromPty_.data(), n), ec);
  }

  // The process has exited: what it wrote before is in the pty's buffer.
  void drainMaster() {
    if (!master_) return;
    master_->non_blocking(true);
    // Bounded: a process left outside the container's pid namespace may keep writing.
    for (int i = 0; i < 4096; ++i) {
      asio::error_code ec;
      size_t n = master_->read_some(asio::buffer(fromPty_), ec);
      if (!ec && n > 0) {
        writeOut(n);
        continue;
      }
      // The tty layer hands the slave's last output to the master from a work queue, so it may
      // not be readable yet: wait a little for more. EIO (every slave closed, nothing left)
      // ends the drain at once; a quiet, still-open slave after 50 ms.
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        pollfd pfd{master_->native_handle(), POLLIN, 0};
        if (::poll(&pfd, 1, 50) > 0) continue;
      }
      break;
    }
  }

  ChildGuard& child_;
  asio::io_context io_{1};
  asio::posix::stream_descriptor signals_, pidfd_;
  std::optional<asio::posix::stream_descriptor> master_, in_, out_;
  std::array<char, 16384> fromPty_, fromIn_;
};

}  // namespace

int waitForeground(ChildGuard& child, const sigset_t& forwarded, UniqueFd ptyMaster) {
  Foreground fg(child, forwarded, std::move(ptyMaster));
  return fg.run();
}

}  // namespace sv::runc
