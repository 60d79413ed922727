// Hooks: parsing is plain data; running has one allocation-free core (runCore) under both the
// throwing runtime-side API and the errbuf API used inside the container init, so the two
// behave alike by construction.
#include "oci/hooks.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/process.h"


namespace sv::oci {

// ---- parsing

namespace {

using Json = nlohmann::json;

struct Kind {
  std::string_view name;
  std::vector<Hook> Hooks::*list;
};

// In runtime-spec order, which is also the order they run in.
constexpr Kind kKinds[] = {
    {"prestart", &Hooks::prestart},
    {"createRuntime", &Hooks::createRuntime},
    {"createContainer", &Hooks::createContainer},
    {"startContainer", &Hooks::startContainer},
    {"poststart", &Hooks::poststart},
    {"poststop", &Hooks::poststop},
};

[[noreturn]] void bad(const std::string& where, std::string_view must) {
  throw UserError(fmt::format("config.json: {} {}", where, must));
}

std::string takeString(Json& v, const std::string& where) {
  if (!v.is_string()) bad(where, "must be a string");
  auto& s = v.get_ref<std::string&>();
  // Everything here ends up in execve, which would silently cut the string at a NUL.
  if (s.find('\0') != std::string::npos) bad(where, "contains a NUL byte; remove it");
  return std::move(s);
}

// An absent or null list is empty.
std::vector<std::string> takeStrings(Json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  std::string at = where + "." + key;
  if (!it->is_array()) bad(at, "must be an array of strings");
  out.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i)
    out.push_back(takeString((*it)[i], fmt::format("{}[{}]", at, i)));
  return out;
}

Hook parseHook(Json& v, const std::string& where) {
  if (!v.is_object()) bad(where, "must be an object with at least a \"path\"");
  Hook h;
  auto path = v.find("path");
  if (path == v.end() || path->is_null()) bad(where + ".path", "is required");
  h.path = takeString(*path, where + ".path");
  if (h.path.empty() || h.path[0] != '/')
    bad(where + ".path", fmt::format("must be absolute (got \"{}\")", h.path));
  h.args = takeStrings(v, "args", where);
  h.env = takeStrings(v, "env", where);
  auto env = v.find("env");
  h.inheritEnv = env == v.end() || env->is_null();
  if (auto t = v.find("timeout"); t != v.end() && !t->is_null()) {
    if (!t->is_number_integer()) bad(where + ".timeout", "must be a whole number of seconds");
    // nlohmann keeps non-negative numbers unsigned, negative ones signed.
    if (t->is_number_unsigned() ? t->get<uint64_t>() == 0 : t->get<int64_t>() <= 0)
      bad(where + ".timeout", "must be greater than zero (leave it out for no timeout)");
    if (t->is_number_unsigned() && t->get<uint64_t>() > INT_MAX)
      bad(where + ".timeout", fmt::format("must be at most {} seconds", INT_MAX));
    h.timeoutSec = t->get<int>();
  }
  return h;
}

}  // namespace

Hooks parseHooks(const std::string& json) {
  if (json.empty()) return {};
  Json doc = Json::parse(json, nullptr, false);
  if (doc.is_discarded()) throw UserError("config.json: hooks is not valid JSON");
  return readHooks(std::move(doc));
}

Hooks readHooks(Json doc) {
  Hooks hooks;
  if (doc.is_null()) return hooks;
  if (!doc.is_object()) bad("hooks", "must be an object");
  for (const Kind& k : kKinds) {
    auto it = doc.find(k.name);
    if (it == doc.end() || it->is_null()) continue;
    std::string where = fmt::format("hooks.{}", k.name);
    if (!it->is_array()) bad(where, "must be an array of hooks");
    auto& list = hooks.*k.list;
    list.reserve(it->size());
    for (size_t i = 0; i < it->size(); ++i)
      list.push_back(parseHook((*it)[i], fmt::format("{}[{}]", where, i)));
  }
  return hooks;
}

// ---- running: the allocation-free core

namespace {

// Per stream, kept for the error message; the rest is read and dropped so the hook never
// blocks on a full pipe.
constexpr size_t kCaptureMax = 4096;

struct Capture {
  char data[kCaptureMax];
  size_t len = 0;
  bool truncated = false;
  void append(const char* p, size_t n) noexcept {
    size_t take = std::min(n, kCaptureMax - len);
    std::memcpy(data + len, p, take);
    len += take;
    if (take < n) truncated = true;
  }
};

enum class Outcome { kExited, kSignaled, kTimedOut, kChildSetupFailed, kRuntimeFailed };

// What the child reports through its CLOEXEC pipe when it cannot exec: nothing arrives
// (EOF) once execve succeeded.
enum class ChildStage : int { kStdio, kChdir, kExec };
struct ChildReport {
  ChildStage stage;
  int err;
};

struct Result {
  Outcome outcome = Outcome::kRuntimeFailed;
  int code = 0;         // exit status, signal, or errno (child setup / runtime failure)
  ChildStage stage{};   // kChildSetupFailed
  const char* op = "";  // kRuntimeFailed: the system call that failed
  Capture out, err;
};

struct Cmd {
  const char* path;
  const char* const* argv;
  const char* const* envp;
  int timeoutSec;
  const char* cwd;  // nullptr: inherit
};

int64_t nowMs() noexcept {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void closeFd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// ---- child side: between clone and execve only system calls, no allocation.

[[noreturn]] void childFail(int reportFd, ChildStage stage, int err) noexcept {
  ChildReport r{stage, err};
  [[maybe_unused]] ssize_t n = ::write(reportFd, &r, sizeof r);
  ::_exit(127);
}

void closeFrom(unsigned first) noexcept {
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
  // Before Linux 5.9: every possible fd.
  struct rlimit rl;
  unsigned last = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    last = static_cast<unsigned>(std::min<rlim_t>(rl.rlim_cur, 1u << 20));
  for (unsigned fd = first; fd < last; ++fd) ::close(static_cast<int>(fd));
}


[[noreturn]] void childExec(const Cmd& c, int in, int out, int err, int report) noexcept {
  // Move the four fds above 3 first: a pipe end may itself be 0, 1 or 2 when the caller
  // runs with a standard stream closed, and dup2 onto it would lose it.
  int fds[4] = {in, out, err, report};
  for (int& fd : fds) {
    fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 4);
    if (fd < 0) childFail(report, ChildStage::kStdio, errno);
  }
  report = fds[3];
  if (::dup2(fds[0], 0) < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(fds[2], 2) < 0)
    childFail(report, ChildStage::kStdio, errno);
  if (::dup3(report, 3, O_CLOEXEC) < 0) childFail(report, ChildStage::kStdio, errno);
  report = 3;
  // Only 0, 1, 2 reach the hook (3 closes on exec): no runtime or container fd leaks into it.
  closeFrom(4);
  // Its own process group, so a timeout kills what it started too.
  ::setpgid(0, 0);
  if (c.cwd && ::chdir(c.cwd) != 0) childFail(report, ChildStage::kChdir, errno);
  resetSignals();
  ::execve(c.path, const_cast<char* const*>(c.argv), const_cast<char* const*>(c.envp));
  childFail(report, ChildStage::kExec, errno);
}

// clone3 with a pidfd; fork + pidfd_open where a seccomp filter hides clone3 (ENOSYS).
// Returns the pid (0 in the child) or -1 with errno set.
pid_t spawn(int* pidfd) noexcept {
  struct clone_args args {};
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
  if (pid >= 0 || errno != ENOSYS) return pid;
  pid = ::fork();
  if (pid <= 0) return pid;
  *pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (*pidfd < 0) {
    int e = errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    errno = e;
    return -1;
  }
  return pid;
}

// Writing the state into a pipe whose reader is gone raises SIGPIPE, which would kill the
// runtime or (blocked) reach the container through the signal relay. Blocked here for the
// calling thread; a SIGPIPE we raised is taken off the pending set before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard() noexcept {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe, &old_);
    sigset_t pending;
    ::sigpending(&pending);
    pendingBefore_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (raised_ && !pendingBefore_) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      struct timespec zero {};
      while (::sigtimedwait(&pipe, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void raised() noexcept { raised_ = true; }

 private:
  sigset_t old_;
  bool pendingBefore_ = false;
  bool raised_ = false;
};

// Reads what is there; false at EOF or on an error (the stream is then done).
bool readInto(int fd, Capture& cap) noexcept {
  char buf[4096];
  for (int round = 0; round < 256; ++round) {  // bounded: a grandchild may write forever
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      cap.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
  return true;
}

struct Pipes {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  ~Pipes() {
    for (int* p : {in, out, err, report}) closeFd(p[0]), closeFd(p[1]);
  }
};

void runtimeFailed(Result& r, const char* op) noexcept {
  r.outcome = Outcome::kRuntimeFailed;
  r.op = op;
  r.code = errno;
}

void killGroup(pid_t pid, int pidfd) noexcept {
  ::kill(-pid, SIGKILL);  // fails harmlessly if the group is already gone
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

// Reaps the (exited or killed) child; r.outcome is kExited or kSignaled unless overridden.
bool reap(pid_t pid, Result& r) noexcept {
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    runtimeFailed(r, "waitid");
    return false;
  }
  if (info.si_code == CLD_EXITED) {
    r.outcome = Outcome::kExited;
  } else {
    r.outcome = Outcome::kSignaled;
  }
  r.code = info.si_status;
  return true;
}

// Feeds the state, collects output, enforces the timeout; returns once the child is reaped.
void superviseChild(pid_t pid, int pidfd, Pipes& p, const Cmd& c, const char* state, size_t len,
                    Result& r) noexcept {
  const int64_t deadline = c.timeoutSec > 0 ? nowMs() + int64_t{c.timeoutSec} * 1000 : -1;
  SigpipeGuard sigpipe;
  size_t off = 0;
  int& inW = p.in[1];
  if (len == 0) closeFd(inW);
  for (;;) {
    struct pollfd fds[4] = {{pidfd, POLLIN, 0},
                            {p.out[0], POLLIN, 0},
                            {p.err[0], POLLIN, 0},
                            {inW, POLLOUT, 0}};  // a negative fd is skipped by poll
    int wait = -1;
    if (deadline >= 0) wait = static_cast<int>(std::clamp<int64_t>(deadline - nowMs(), 0, INT_MAX));
    int n = ::poll(fds, 4, wait);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      killGroup(pid, pidfd);
      reap(pid, r);
      errno = e;
      runtimeFailed(r, "poll");
      return;
    }
    if (n == 0 && deadline >= 0 && nowMs() >= deadline) {
      killGroup(pid, pidfd);
      if (!reap(pid, r)) return;
      r.outcome = Outcome::kTimedOut;
      r.code = c.timeoutSec;
      if (p.out[0] >= 0) readInto(p.out[0], r.out);
      if (p.err[0] >= 0) readInto(p.err[0], r.err);
      return;
    }
    if (fds[1].revents && !readInto(p.out[0], r.out)) closeFd(p.out[0]);
    if (fds[2].revents && !readInto(p.err[0], r.err)) closeFd(p.err[0]);
    if (fds[3].revents) {
      ssize_t w = ::write(inW, state + off, std::min<size_t>(len - off, 65536));
      if (w > 0) off += static_cast<size_t>(w);
      if (w < 0 && errno == EPIPE) sigpipe.raised();
      // Done, or the hook closed its stdin: it has all it wants.
      if (off == len || (w < 0 && errno != EAGAIN && errno != EINTR)) closeFd(inW);
    }
    if (fds[0].revents) {
      // Exited: its output is in the pipes already. Not waiting for EOF, which a background
      // process the hook left holding its stdout would delay forever.
      if (p.out[0] >= 0) readInto(p.out[0], r.out);
      if (p.err[0] >= 0) readInto(p.err[0], r.err);
      reap(pid, r);
      return;
    }
  }
}

void runCore(const Cmd& c, const char* state, size_t len, Result& r) noexcept {
  Pipes p;
  for (int* fds : {p.in, p.out, p.err, p.report}) {
    if (::pipe2(fds, O_CLOEXEC) != 0) return runtimeFailed(r, "pipe2");
  }
  // Our ends only: O_NONBLOCK belongs to one end's open file, the hook's ends stay blocking.
  for (int fd : {p.in[1], p.out[0], p.err[0], p.report[0]}) {
    if (::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) return runtimeFailed(r, "fcntl");
  }
  int pidfd = -1;
  pid_t pid = spawn(&pidfd);
  if (pid < 0) return runtimeFailed(r, "clone3");
  if (pid == 0) childExec(c, p.in[0], p.out[1], p.err[1], p.report[1]);
  closeFd(p.in[0]);
  closeFd(p.out[1]);
  closeFd(p.err[1]);
  closeFd(p.report[1]);
  superviseChild(pid, pidfd, p, c, state, len, r);
  ::close(pidfd);
  if (r.outcome == Outcome::kExited || r.outcome == Outcome::kSignaled) {
    ChildReport rep;
    if (::read(p.report[0], &rep, sizeof rep) == sizeof rep) {
      r.outcome = Outcome::kChildSetupFailed;
      r.stage = rep.stage;
      r.code = rep.err;
    }
  }
}

// ---- messages (snprintf only, so the init can format them too)

// Go's words for signals, as runc prints them ("signal: killed").
constexpr struct {
  int sig;
  const char* name;
} kSignalNames[] = {
    {SIGHUP, "hangup"},
    {SIGINT, "interrupt"},
    {SIGQUIT, "quit"},
    {SIGILL, "illegal instruction"},
    {SIGTRAP, "trace/breakpoint trap"},
    {SIGABRT, "aborted"},
    {SIGBUS, "bus error"},
    {SIGFPE, "floating point exception"},
    {SIGKILL, "killed"},
    {SIGUSR1, "user defined signal 1"},
    {SIGSEGV, "segmentation fault"},
    {SIGUSR2, "user defined signal 2"},
    {SIGPIPE, "broken pipe"},
    {SIGALRM, "alarm clock"},
    {SIGTERM, "terminated"},
    {SIGXCPU, "CPU time limit exceeded"},
    {SIGXFSZ, "file size limit exceeded"},
    {SIGSYS, "bad system call"},
};

const char* errText(int err, char* buf, size_t n) noexcept {
  return ::strerror_r(err, buf, n);  // GNU: a static string or buf, never allocates
}

// Appends to buf[*used..n) like snprintf, keeping *used within the buffer.
void append(char* buf, size_t n, size_t* used, const char* fmt, ...) noexcept
    __attribute__((format(printf, 4, 5)));
void append(char* buf, size_t n, size_t* used, const char* fmt, ...) noexcept {
  if (*used + 1 >= n) return;
  va_list ap;
  va_start(ap, fmt);
  int k = std::vsnprintf(buf + *used, n - *used, fmt, ap);
  va_end(ap);
  if (k > 0) *used = std::min(n - 1, *used + static_cast<size_t>(k));
}

void appendOutput(char* buf, size_t n, size_t* used, const Result& r) noexcept {
  append(buf, n, used, ", stdout: %.*s%s, stderr: %.*s%s", static_cast<int>(r.out.len), r.out.data,
         r.out.truncated ? "...(truncated)" : "", static_cast<int>(r.err.len), r.err.data,
         r.err.truncated ? "...(truncated)" : "");
}

// "error running <phase> hook #<i>: <what>"; buf is always NUL-terminated.
void formatFailure(char* buf, size_t n, const char* phase, size_t index, const Cmd& c,
                   const Result& r) noexcept {
  if (n == 0) return;
  buf[0] = '\0';
  size_t used = 0;
  char e[128];
  append(buf, n, &used, "error running %s hook #%zu: ", phase, index);
  switch (r.outcome) {
    case Outcome::kExited:
      append(buf, n, &used, "exit status %d", r.code);
      appendOutput(buf, n, &used, r);
      break;
    case Outcome::kSignaled: {
      const char* name = nullptr;
      for (const auto& s : kSignalNames)
        if (s.sig == r.code) name = s.name;
      if (name)
        append(buf, n, &used, "signal: %s", name);
      else
        append(buf, n, &used, "signal: %d", r.code);
      appendOutput(buf, n, &used, r);
      break;
    }
    case Outcome::kTimedOut:
      append(buf, n, &used,
             "timed out after %ds and was killed (raise its \"timeout\" in config.json if it "
             "needs longer)",
             r.code);
      appendOutput(buf, n, &used, r);
      break;
    case Outcome::kChildSetupFailed:
      if (r.stage == ChildStage::kExec)
        append(buf, n, &used, "exec \"%s\": %s", c.path, errText(r.code, e, sizeof e));
      else if (r.stage == ChildStage::kChdir)
        append(buf, n, &used, "chdir to \"%s\" for \"%s\": %s", c.cwd ? c.cwd : "", c.path,
               errText(r.code, e, sizeof e));
      else
        append(buf, n, &used, "setting up stdin/stdout/stderr for \"%s\": %s", c.path,
               errText(r.code, e, sizeof e));
      break;
    case Outcome::kRuntimeFailed:
      append(buf, n, &used, "%s: %s", r.op, errText(r.code, e, sizeof e));
      break;
  }
}

bool succeeded(const Result& r) noexcept {
  return r.outcome == Outcome::kExited && r.code == 0;
}

}  // namespace

// ---- the runtime side

void runHook(const Hook& h, std::string_view stateJson, std::string_view phase, size_t index,
             const char* cwd) {
  std::vector<const char*> argv, envp;
  if (h.args.empty()) argv.push_back(h.path.c_str());
  for (const auto& a : h.args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  for (const auto& e : h.env) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  Cmd c{h.path.c_str(), argv.data(), h.inheritEnv ? environ : envp.data(), h.timeoutSec, cwd};
  Result r;
  runCore(c, stateJson.data(), stateJson.size(), r);
  if (succeeded(r)) return;
  // std::system_error appends the errno text itself.
  if (r.outcome == Outcome::kRuntimeFailed)
    throw SysError(r.code, fmt::format("error running {} hook #{}: {}", phase, index, r.op));
  std::string phaseZ(phase);
  std::string msg(2 * kCaptureMax + 2 * PATH_MAX + 512, '\0');
  formatFailure(msg.data(), msg.size(), phaseZ.c_str(), index, c, r);
  msg.resize(std::strlen(msg.c_str()));
  throw HookError(msg);
}

void runHooks(const std::vector<Hook>& hooks, std::string_view stateJson, std::string_view phase,
              const char* cwd) {
  for (size_t i = 0; i < hooks.size(); ++i) runHook(hooks[i], stateJson, phase, i, cwd);
}

std::vector<std::string> runHooksCollectingFailures(const std::vector<Hook>& hooks,
                                                    std::string_view stateJson,
                                                    std::string_view phase, const char* cwd) {
  std::vector<std::string> failures;
  for (size_t i = 0; i < hooks.size(); ++i) {
    try {
      runHook(hooks[i], stateJson, phase, i, cwd);
    } catch (const std::exception& e) {
      failures.push_back(e.what());  // runtime-spec: warn, then carry on as if it succeeded
    }
  }
  return failures;
}

// ---- the container-init side

PreparedHooks prepare(const std::vector<Hook>& hooks, std::string_view phase) {
  PreparedHooks p;
  p.phase_ = phase;
  p.hooks_ = hooks;  // from here on no string moves: the pointers below stay valid
  struct Offsets {
    size_t argv, envp;
  };
  std::vector<Offsets> offsets;
  for (const Hook& h : p.hooks_) {
    Offsets o{p.ptrs_.size(), 0};
    if (h.args.empty()) p.ptrs_.push_back(h.path.c_str());
    for (const auto& a : h.args) p.ptrs_.push_back(a.c_str());
    p.ptrs_.push_back(nullptr);
    o.envp = p.ptrs_.size();
    for (const auto& e : h.env) p.ptrs_.push_back(e.c_str());
    p.ptrs_.push_back(nullptr);
    offsets.push_back(o);
  }
  // ptrs_ is complete: its data() no longer moves.
  for (size_t i = 0; i < p.hooks_.size(); ++i)
    p.entries_.push_back({p.hooks_[i].path.c_str(), p.ptrs_.data() + offsets[i].argv,
                          p.hooks_[i].inheritEnv ? environ : p.ptrs_.data() + offsets[i].envp,
                          p.hooks_[i].timeoutSec});
  return p;
}

int runPreparedNoAlloc(const PreparedHooks& prepared, const char* state, size_t len, char* errbuf,
                       size_t errlen) noexcept {
  if (errlen > 0) errbuf[0] = '\0';
  Result r;  // 8 KiB of captures on the stack: the init runs on a copy of the runtime's
  for (size_t i = 0; i < prepared.entries_.size(); ++i) {
    const auto& e = prepared.entries_[i];
    Cmd c{e.path, e.argv, e.envp, e.timeoutSec, nullptr};
    r.out.len = r.err.len = 0;
    r.out.truncated = r.err.truncated = false;
    runCore(c, state, len, r);
    if (!succeeded(r)) {
      formatFailure(errbuf, errlen, prepared.phase_.c_str(), i, c, r);
      return -1;
    }
  }
  return 0;
}

}  // namespace sv::oci
