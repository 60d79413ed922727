// linux.seccomp: validation messages, and real filters. A forked child sets no_new_privs
// (so no privilege is needed), loads a compiled program, makes a syscall and reports the
// errno as its exit code; the parent checks the exit code or the signal that killed it.
// Those cases are tagged [filter]: the sanitized run (test/sanitize) leaves them out, since
// the sanitizer runtime itself fails in a process whose filter denies its mmap or sigaltstack.
#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/seccomp.h"
#include "nsutil/seccomp_cache.h"
#include "test_util.h"

using Catch::Matchers::Contains;
using nlohmann::json;
using sv::UniqueFd;
using sv::UserError;
using sv::test::TempDir;
namespace sc = sv::ns::seccomp;

namespace {

constexpr int kSetupFailed = 200, kLoadFailed = 201;

template <typename F>
void checkUserError(F f, const std::string& message) {
  CHECK_THAT(sv::test::errorOf(f), Contains(message));
}

// How a child ended: its exit code, or the signal that killed it.
struct Outcome {
  int code = -1;
  int signal = 0;
};

Outcome wait(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) return {-1, WTERMSIG(status)};
  return {WEXITSTATUS(status), 0};
}

// Runs body in a child with p loaded; body gets load()'s result and returns the exit code.
template <typename Body>
pid_t spawnFiltered(const sc::Program& p, Body body) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    struct rlimit noCore {
      0, 0
    };
    ::setrlimit(RLIMIT_CORE, &noCore);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(kSetupFailed);
    int r = sc::load(p);
    if (r < 0) ::_exit(kLoadFailed);
    ::_exit(body(r));
  }
  return pid;
}

template <typename Body>
Outcome runFiltered(const sc::Program& p, Body body) {
  return wait(spawnFiltered(p, body));
}

// The errno of a raw syscall, 0 on success.
int errnoOf(long r) {
  return r < 0 ? errno : 0;
}

int getppidErrno(int) {
  return errnoOf(::syscall(SYS_getppid));
}

constexpr const char* kExits = R"({"names":["exit","exit_group"],"action":"SCMP_ACT_ALLOW"})";

// A profile denying everything but exiting (and what `extra` allows), with an EPERM default.
std::string allowList(const std::string& extra = "", const std::string& more = "") {
  return std::string(R"({"defaultAction":"SCMP_ACT_ERRNO",)") + more + R"("syscalls":[)" + kExits +
         (extra.empty() ? "" : "," + extra) + "]}";
}

// A profile allowing everything but the given rules.
std::string denyList(const std::string& rules, const std::string& more = "") {
  return R"({"defaultAction":"SCMP_ACT_ALLOW",)" + more + R"("syscalls":[)" + rules + "]}";
}

// A deny-list profile with one rule on read() and the given argument comparisons.
std::string readArgs(const std::string& args) {
  return denyList(R"({"names":["read"],"action":"SCMP_ACT_ERRNO","args":[)" + args + "]}");
}

// ---- fd passing between the filtered child and the test

void sendFd(int sock, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  if (::sendmsg(sock, &mh, 0) != 1) ::_exit(kSetupFailed);
}

// Receives up to `max` bytes and one fd (-1 if none came).
std::string recvWithFd(int sock, int& fd, size_t max = 1 << 16) {
  std::string buf(max, '\0');
  iovec iov{buf.data(), buf.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  REQUIRE(n >= 0);
  fd = -1;
  if (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm && cm->cmsg_type == SCM_RIGHTS)
    std::memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

// Answers one notification on listener: checks it is getppid from pid, fails it with err.
void answerGetppid(int listener, pid_t pid, int err) {
  seccomp_notif req{};
  REQUIRE(::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) == 0);
  CHECK(req.data.nr == SYS_getppid);
  CHECK(static_cast<pid_t>(req.pid) == pid);
  seccomp_notif_resp resp{};
  resp.id = req.id;
  resp.error = -err;
  REQUIRE(::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0);
}

}  // namespace

// ---- validation

TEST_CASE("compile: no profile, or one without defaultAction and syscalls, is no seccomp",
          "[seccomp][filter]") {
  CHECK(sc::compile("").empty());
  CHECK(sc::compile("{}").empty());
  CHECK(sc::compile(R"({"syscalls":[],"architectures":["SCMP_ARCH_X86"]})").empty());
  CHECK(sc::load(sc::Program{}) == 0);
}

TEST_CASE("compile: every invalid field is named in the error", "[seccomp]") {
  const std::pair<std::string, std::string> cases[] = {
      {"[]", R"("linux.seccomp": must be an object)"},
      {R"({"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]})",
       R"("linux.seccomp.defaultAction": is required)"},
      {R"({"defaultAction":"SCMP_ACT_DENY"})",
       R"("linux.seccomp.defaultAction": unknown action "SCMP_ACT_DENY"; )"
       "use one of SCMP_ACT_KILL"},
      {R"({"defaultAction":7})", R"("linux.seccomp.defaultAction": must be a string)"},
      {R"({"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/a"})",
       R"("linux.seccomp.defaultAction": SCMP_ACT_NOTIFY cannot be the default action)"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":1})",
       R"("linux.seccomp.defaultErrnoRet": SCMP_ACT_ALLOW returns no errno)"},
      {R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1})",
       R"("linux.seccomp.defaultErrnoRet": must be an unsigned integer)"},
      {R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":5000})",
       R"("linux.seccomp.defaultErrnoRet": 5000 is not an errno (0..4095))"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":"SCMP_ARCH_X86"})",
       R"("linux.seccomp.architectures": must be an array)"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","x86"]})",
       R"("linux.seccomp.architectures[1]": unknown architecture "x86"; )"
       "use one of SCMP_ARCH_X86,"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NOPE"]})",
       R"("linux.seccomp.flags[0]": unknown flag "SECCOMP_FILTER_FLAG_NOPE")"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})",
       R"("linux.seccomp.flags": SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only applies to )"
       "SCMP_ACT_NOTIFY rules"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","listenerMetadata":"m"})",
       R"("linux.seccomp.listenerMetadata": must not be set without listenerPath)"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":")" + std::string(108, 'a') + "\"}",
       R"("linux.seccomp.listenerPath": ")" + std::string(108, 'a') +
           R"(" is longer than a unix socket path can be (107 bytes))"},
      {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}})",
       R"("linux.seccomp.syscalls": must be an array)"},
      {denyList("7"), R"("linux.seccomp.syscalls[0]": must be an object)"},
      {denyList(R"({"action":"SCMP_ACT_ERRNO"})"),
       R"("linux.seccomp.syscalls[0].names": is required)"},
      {denyList(R"({"names":[],"action":"SCMP_ACT_ERRNO"})"),
       R"("linux.seccomp.syscalls[0].names": must name at least one syscall)"},
      {denyList(R"({"names":["read",""],"action":"SCMP_ACT_ERRNO"})"),
       R"("linux.seccomp.syscalls[0].names[1]": must not be empty)"},
      {denyList(R"({"names":["read",3],"action":"SCMP_ACT_ERRNO"})"),
       R"("linux.seccomp.syscalls[0].names[1]": must be a string)"},
      {denyList(R"({"names":["read"]})"), R"("linux.seccomp.syscalls[0].action": is required)"},
      {denyList(
           R"({"names":["read"],"action":"SCMP_ACT_ERRNO"},{"names":["write"],"action":"ERRNO"})"),
       R"("linux.seccomp.syscalls[1].action": unknown action "ERRNO")"},
      {denyList(R"({"names":["read"],"action":"SCMP_ACT_KILL","errnoRet":1})"),
       R"("linux.seccomp.syscalls[0].errnoRet": SCMP_ACT_KILL returns no errno; only )"
       "SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one"},
      {denyList(R"({"names":["read"],"action":"SCMP_ACT_NOTIFY","errnoRet":1})"),
       R"("linux.seccomp.syscalls[0].errnoRet": SCMP_ACT_NOTIFY returns no errno)"},
      {denyList(R"({"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":"EPERM"})"),
       R"("linux.seccomp.syscalls[0].errnoRet": must be an unsigned integer)"},
      {denyList(R"({"names":["read"],"action":"SCMP_ACT_NOTIFY"})"),
       R"("linux.seccomp.listenerPath": is required with SCMP_ACT_NOTIFY rules)"},
      {denyList(R"({"names":["read","sendmsg"],"action":"SCMP_ACT_NOTIFY"})",
                R"("listenerPath":"/a",)"),
       R"("linux.seccomp.syscalls[0].action": SCMP_ACT_NOTIFY cannot be used for "sendmsg")"},
      {denyList(R"({"names":["read"],"action":"SCMP_ACT_ERRNO","args":{}})"),
       R"("linux.seccomp.syscalls[0].args": must be an array)"},
      {readArgs(R"(1)"), R"("linux.seccomp.syscalls[0].args[0]": must be an object)"},
      {readArgs(R"({"value":1,"op":"SCMP_CMP_EQ"})"),
       R"("linux.seccomp.syscalls[0].args[0].index": is required)"},
      {readArgs(R"({"index":6,"value":1,"op":"SCMP_CMP_EQ"})"),
       R"("linux.seccomp.syscalls[0].args[0].index": 6 is out of range: )"
       "syscalls have 6 arguments (0..5)"},
      {readArgs(R"({"index":0,"op":"SCMP_CMP_EQ"})"),
       R"("linux.seccomp.syscalls[0].args[0].value": is required)"},
      {readArgs(R"({"index":0,"value":-1,"op":"SCMP_CMP_EQ"})"),
       R"("linux.seccomp.syscalls[0].args[0].value": must be an unsigned integer)"},
      {readArgs(R"({"index":0,"value":1,"valueTwo":1.5,"op":"SCMP_CMP_EQ"})"),
       R"("linux.seccomp.syscalls[0].args[0].valueTwo": must be an unsigned integer)"},
      {readArgs(R"({"index":0,"value":1})"),
       R"("linux.seccomp.syscalls[0].args[0].op": is required)"},
      {readArgs(R"({"index":0,"value":1,"op":"SCMP_CMP_MASKED"})"),
       R"("linux.seccomp.syscalls[0].args[0].op": unknown operator "SCMP_CMP_MASKED"; use one of )"
       "SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, "
       "SCMP_CMP_MASKED_EQ"},
  };
  for (const auto& [input, message] : cases) {
    const auto& profile = input;  // a lambda may not capture a structured binding (clang 14)
    INFO(profile);
    checkUserError([&] { sc::compile(profile); }, message);
  }
}

TEST_CASE("compile: flags, defaults and skipped names", "[seccomp][filter]") {
  // No "flags": SPEC_ALLOW, as runc does; an empty list: none.
  CHECK(sc::compile(denyList("")).flags == SECCOMP_FILTER_FLAG_SPEC_ALLOW);
  CHECK(sc::compile(denyList("", R"("flags":[],)")).flags == 0);
  CHECK(sc::compile(denyList("", R"("flags":["SECCOMP_FILTER_FLAG_LOG"],)")).flags ==
        SECCOMP_FILTER_FLAG_LOG);
  CHECK(sc::compile(denyList("", R"("flags":["SECCOMP_FILTER_FLAG_TSYNC"],)")).flags ==
        (SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH));

  auto p = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_NOTIFY"})",
                                R"("listenerPath":"/run/agent.sock","listenerMetadata":"m",)"));
  CHECK(p.notify);
  CHECK(p.flags == (SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW));
  CHECK(p.listenerPath == "/run/agent.sock");
  CHECK(p.listenerMetadata == "m");

  // Unknown names are skipped, as runc does; the rest of the rule still applies.
  auto q = sc::compile(denyList(
      R"({"names":["no_such_syscall","getppid","no_such_syscall"],"action":"SCMP_ACT_ERRNO"})"));
  CHECK(q.skippedSyscalls == std::vector<std::string>{"no_such_syscall"});
  CHECK(runFiltered(q, getppidErrno).code == EPERM);

  // A rule with the default action is dropped (libseccomp would refuse it).
  auto r = sc::compile(allowList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})"));
  CHECK(runFiltered(r, getppidErrno).code == EPERM);
}

// ---- actions

TEST_CASE("SCMP_ACT_ERRNO returns errnoRet, EPERM without it", "[seccomp][filter]") {
  auto withRet =
      sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":)" +
                           std::to_string(EXDEV) + "}"));
  CHECK(runFiltered(withRet, getppidErrno).code == EXDEV);
  auto plain = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})"));
  CHECK(runFiltered(plain, getppidErrno).code == EPERM);
  // Other syscalls are untouched.
  CHECK(runFiltered(plain, [](int) { return errnoOf(::syscall(SYS_getpid)); }).code == 0);
}

TEST_CASE("default action SCMP_ACT_ERRNO with defaultErrnoRet, allowed syscalls run", "[seccomp][filter]") {
  auto p = sc::compile(allowList(R"({"names":["getpid","openat2"],"action":"SCMP_ACT_ALLOW"})",
                                 R"("defaultErrnoRet":)" + std::to_string(EXDEV) + ","));
  CHECK(runFiltered(p, getppidErrno).code == EXDEV);
  CHECK(runFiltered(p, [](int) { return errnoOf(::syscall(SYS_getpid)); }).code == 0);
}

TEST_CASE("SCMP_ACT_KILL_PROCESS and SCMP_ACT_KILL kill with SIGSYS", "[seccomp][filter]") {
  for (const char* action : {"SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"}) {
    INFO(action);
    auto p =
        sc::compile(denyList(R"({"names":["getppid"],"action":")" + std::string(action) + "\"}"));
    Outcome o = runFiltered(p, getppidErrno);
    CHECK(o.signal == SIGSYS);
  }
}

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1  // si_code of a seccomp SIGSYS; glibc does not always define it
#endif

namespace {
void onSigsys(int, siginfo_t* info, void*) {
  ::_exit(info->si_code == SYS_SECCOMP && info->si_syscall == SYS_getppid ? 77 : 78);
}
}  // namespace

TEST_CASE("SCMP_ACT_TRAP raises a SIGSYS the process can catch", "[seccomp][filter]") {
  auto p = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_TRAP"})"));
  CHECK(runFiltered(p, getppidErrno).signal == SIGSYS);
  Outcome caught = runFiltered(p, [](int) {
    struct sigaction sa {};
    sa.sa_sigaction = onSigsys;
    sa.sa_flags = SA_SIGINFO;
    ::sigaction(SIGSYS, &sa, nullptr);
    return getppidErrno(0);
  });
  CHECK(caught.code == 77);
}

TEST_CASE("SCMP_ACT_TRACE without a tracer fails with ENOSYS; LOG and ALLOW run the syscall",
          "[seccomp][filter]") {
  auto trace = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_TRACE"})"));
  CHECK(runFiltered(trace, getppidErrno).code == ENOSYS);
  auto log = sc::compile(allowList(R"({"names":["getppid"],"action":"SCMP_ACT_LOG"})"));
  CHECK(runFiltered(log, getppidErrno).code == 0);
  auto allow = sc::compile(allowList(R"({"names":["getppid"],"action":"SCMP_ACT_ALLOW"})"));
  CHECK(runFiltered(allow, getppidErrno).code == 0);
  auto deny = sc::compile(allowList());
  CHECK(runFiltered(deny, getppidErrno).code == EPERM);
}

// ---- arguments

namespace {
int personalityErrno(unsigned long persona) {
  return errnoOf(::syscall(SYS_personality, persona));
}
}  // namespace

TEST_CASE("argument comparisons: every operator", "[seccomp][filter]") {
  // personality(x) fails when x OP 8; bit i of the exit code: values[i] was refused.
  constexpr unsigned long values[] = {0, 8, 0x20000};
  const std::pair<const char*, int> cases[] = {
      {"SCMP_CMP_NE", 0b101}, {"SCMP_CMP_LT", 0b001}, {"SCMP_CMP_LE", 0b011},
      {"SCMP_CMP_EQ", 0b010}, {"SCMP_CMP_GE", 0b110}, {"SCMP_CMP_GT", 0b100},
  };
  for (const auto& [op, refused] : cases) {
    INFO(op);
    auto p = sc::compile(denyList(R"({"names":["personality"],"action":"SCMP_ACT_ERRNO",)"
                                  R"("args":[{"index":0,"value":8,"op":")" +
                                  std::string(op) + "\"}]}"));
    Outcome o = runFiltered(p, [&](int) {
      int bits = 0;
      for (int i = 0; i < 3; ++i)
        if (personalityErrno(values[i]) == EPERM) bits |= 1 << i;
      return bits;
    });
    CHECK(o.code == refused);
  }
}

TEST_CASE("argument comparisons: MASKED_EQ compares (arg & value) with valueTwo", "[seccomp][filter]") {
  // Refuse personality() with ADDR_NO_RANDOMIZE set, whatever else is set.
  auto p = sc::compile(
      denyList(R"({"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":)" +
               std::to_string(ADDR_NO_RANDOMIZE) + R"(,"valueTwo":)" +
               std::to_string(ADDR_NO_RANDOMIZE) + R"(,"op":"SCMP_CMP_MASKED_EQ"}]})"));
  CHECK(runFiltered(p, [](int) { return personalityErrno(ADDR_NO_RANDOMIZE); }).code == EPERM);
  CHECK(runFiltered(p, [](int) {
          return personalityErrno(ADDR_NO_RANDOMIZE | 0UL | PER_LINUX32);
        }).code == EPERM);
  CHECK(runFiltered(p, [](int) { return personalityErrno(PER_LINUX); }).code == 0);
  CHECK(runFiltered(p, [](int) { return personalityErrno(PER_LINUX32); }).code == 0);
}

TEST_CASE("argument comparisons: the same index twice is OR (runc), different indexes AND",
          "[seccomp][filter]") {
  // Allowed only as a query or PER_LINUX: two comparisons of argument 0, either may match
  // (as one rule they could never both hold).
  auto either =
      sc::compile(allowList(R"({"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[)"
                            R"({"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"},)"
                            R"({"index":0,"value":0,"op":"SCMP_CMP_EQ"}]})"));
  CHECK(runFiltered(either, [](int) { return personalityErrno(0xffffffff); }).code == 0);
  CHECK(runFiltered(either, [](int) { return personalityErrno(PER_LINUX); }).code == 0);
  CHECK(runFiltered(either, [](int) { return personalityErrno(PER_LINUX32); }).code == EPERM);

  // getpriority(PRIO_PROCESS, 12345) refused, only when both arguments match.
  auto both = sc::compile(denyList(
      R"({"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":)" + std::to_string(EXDEV) +
      R"(,"args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},)"
      R"({"index":1,"value":12345,"op":"SCMP_CMP_EQ"}]})"));
  auto prio = [](int which, int who) {
    return [=](int) { return errnoOf(::syscall(SYS_getpriority, which, who)); };
  };
  CHECK(runFiltered(both, prio(PRIO_PROCESS, 12345)).code == EXDEV);
  CHECK(runFiltered(both, prio(PRIO_PROCESS, 0)).code == 0);
  CHECK(runFiltered(both, prio(PRIO_PGRP, 12345)).code != EXDEV);
}

// ---- ENOSYS for syscalls newer than the profile

TEST_CASE("syscalls above the largest one the profile names fail with ENOSYS", "[seccomp][filter]") {
  // openat2 (437) is the newest syscall named: faccessat2 (439) and an unassigned number are
  // "newer than the profile", getppid is merely not allowed.
  const std::string rules = R"({"names":["openat2"],"action":"SCMP_ACT_ALLOW"})";
  auto p = sc::compile(allowList(rules));
  auto faccessat2 = [](int) { return errnoOf(::syscall(SYS_faccessat2, -1, "", 0, 0)); };
  auto unassigned = [](int) { return errnoOf(::syscall(1000)); };
  CHECK(runFiltered(p, getppidErrno).code == EPERM);
  CHECK(runFiltered(p, faccessat2).code == ENOSYS);
  CHECK(runFiltered(p, unassigned).code == ENOSYS);

  // Even for a killing default (runc's rule): new syscalls are not a reason to die.
  auto kill = sc::compile(R"({"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[)" +
                          std::string(kExits) + "," + rules + "]}");
  CHECK(runFiltered(kill, faccessat2).code == ENOSYS);
  CHECK(runFiltered(kill, getppidErrno).signal == SIGSYS);

  // No stub when the default already is ENOSYS or lets syscalls through.
  auto enosys = sc::compile(allowList(rules, R"("defaultErrnoRet":38,)"));
  CHECK(enosys.filter.size() < p.filter.size());
  CHECK(runFiltered(enosys, getppidErrno).code == ENOSYS);
  auto permissive = sc::compile(denyList(R"({"names":["openat2"],"action":"SCMP_ACT_ERRNO"})"));
  CHECK(runFiltered(permissive, faccessat2).code != ENOSYS);
}

#if defined(__x86_64__)
namespace {
// An i386 syscall from this 64-bit process (int 0x80): the filter sees AUDIT_ARCH_I386.
long syscall32(long nr, long a = 0) {
  long r;
  asm volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory", "r8", "r9", "r10", "r11");
  return r;
}
constexpr long kI386Getpid = 20, kI386Getppid = 64, kI386Faccessat2 = 439;
}  // namespace

TEST_CASE("architectures: compat syscalls are killed unless their architecture is listed",
          "[seccomp][filter]") {
  // Kernels can be built or booted without ia32 emulation.
  Outcome plain =
      runFiltered(sc::Program{}, [](int) { return syscall32(kI386Getpid) > 0 ? 0 : 1; });
  if (plain.code != 0) {
    WARN("no ia32 emulation here: skipped");
    return;
  }
  const std::string rules = R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})";
  auto native = sc::compile(denyList(rules));
  CHECK(runFiltered(native, [](int) { return syscall32(kI386Getpid) > 0 ? 0 : 1; }).signal ==
        SIGSYS);

  auto both = sc::compile(
      denyList(rules, R"("architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],)"));
  CHECK(runFiltered(both, [](int) { return syscall32(kI386Getpid) > 0 ? 0 : 1; }).code == 0);
  CHECK(runFiltered(both, [](int) { return static_cast<int>(-syscall32(kI386Getppid)); }).code ==
        EPERM);

  // The ENOSYS stub covers the compat architecture too.
  auto strict = sc::compile(allowList(R"({"names":["openat2"],"action":"SCMP_ACT_ALLOW"})",
                                      R"("architectures":["SCMP_ARCH_X86"],)"));
  CHECK(runFiltered(strict, [](int) { return static_cast<int>(-syscall32(kI386Getppid)); }).code ==
        EPERM);
  CHECK(runFiltered(strict, [](int) {
          return static_cast<int>(-syscall32(kI386Faccessat2));
        }).code == ENOSYS);
}

TEST_CASE("architectures: x32 syscalls (x86_64 with bit 30) are told apart", "[seccomp][filter]") {
  // The filter runs before the kernel looks at the number, so this works on kernels without
  // x32 support too (an allowed x32 syscall then fails with ENOSYS there).
  constexpr long kX32 = 0x40000000;
  auto x32 = [](long nr) { return [=](int) { return errnoOf(::syscall(kX32 | nr)); }; };
  const std::string rules =
      R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":)" + std::to_string(EXDEV) + "}";
  auto native = sc::compile(denyList(rules));
  CHECK(runFiltered(native, x32(SYS_getpid)).signal == SIGSYS);

  auto both =
      sc::compile(denyList(rules, R"("architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X32"],)"));
  CHECK(runFiltered(both, x32(SYS_getppid)).code == EXDEV);
  CHECK(runFiltered(both, x32(SYS_getpid)).signal == 0);
  CHECK(runFiltered(both, getppidErrno).code == EXDEV);

  auto strict = sc::compile(allowList(R"({"names":["openat2"],"action":"SCMP_ACT_ALLOW"})",
                                      R"("architectures":["SCMP_ARCH_X32"],)"));
  CHECK(runFiltered(strict, x32(SYS_getppid)).code == EPERM);
  CHECK(runFiltered(strict, x32(SYS_faccessat2)).code == ENOSYS);
  CHECK(runFiltered(strict, getppidErrno).code == EPERM);
}
#endif

// ---- flags

TEST_CASE("flags: every flag the spec lists loads", "[seccomp][filter]") {
  auto p = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})",
                                R"("flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG",)"
                                R"("SECCOMP_FILTER_FLAG_SPEC_ALLOW"],)"));
  CHECK(runFiltered(p, getppidErrno).code == EPERM);
}

// ---- notify

namespace {
// A child with p loaded that sends its listener back and then calls getppid (its exit code is
// getppid's errno); the test gets the child's pid and its copy of the listener.
struct NotifyingChild {
  pid_t pid;
  UniqueFd listener;
};
NotifyingChild spawnNotifying(const sc::Program& p) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd ours(sv[0]), theirs(sv[1]);
  pid_t pid = spawnFiltered(p, [&](int listener) {
    if (listener <= 0) return kLoadFailed;
    sendFd(theirs.get(), listener);
    ::close(listener);
    return getppidErrno(0);
  });
  theirs.reset();
  int listener = -1;
  recvWithFd(ours.get(), listener, 1);
  REQUIRE(listener >= 0);
  return {pid, UniqueFd(listener)};
}
}  // namespace

TEST_CASE("SCMP_ACT_NOTIFY: load returns a listener; the agent answers the syscall", "[seccomp]") {
  for (const char* flags :
       {"", R"("flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV","SECCOMP_FILTER_FLAG_TSYNC"],)"}) {
    INFO(flags);
    auto p = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_NOTIFY"})",
                                  std::string(R"("listenerPath":"/nonexistent",)") + flags));
    auto child = spawnNotifying(p);
    answerGetppid(child.listener.get(), child.pid, EXDEV);
    CHECK(wait(child.pid).code == EXDEV);
  }
}

TEST_CASE("sendListener: the agent gets the container process state and the listener",
          "[seccomp]") {
  TempDir dir;
  const std::string path = dir.path + "/agent.sock";
  UniqueFd agent(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  REQUIRE(::bind(agent.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(agent.get(), 1) == 0);

  auto p = sc::compile(
      denyList(R"({"names":["getppid"],"action":"SCMP_ACT_NOTIFY"})",
               R"("listenerPath":")" + path + R"(","listenerMetadata":"MKNOD=/dev/null",)"));
  auto [pid, runtimeCopy] = spawnNotifying(p);

  // The runtime's side.
  json state = {{"ociVersion", "1.2.0"}, {"id", "c1"},
                {"status", "creating"},  {"pid", pid},
                {"bundle", "/b"},        {"annotations", {{"k", "v"}}}};
  sc::sendListener(p, runtimeCopy.get(), state.dump());
  runtimeCopy.reset();

  // The agent's side: one connection, the JSON and the fd, then EOF.
  UniqueFd conn(::accept4(agent.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(conn);
  int seccompFd = -1;
  std::string text = recvWithFd(conn.get(), seccompFd);
  REQUIRE(seccompFd >= 0);
  UniqueFd agentCopy(seccompFd);
  for (char buf[256]; ssize_t n = ::read(conn.get(), buf, sizeof buf);) {
    REQUIRE(n > 0);
    text.append(buf, static_cast<size_t>(n));
  }
  json got = json::parse(text);
  CHECK(got["ociVersion"] == "1.2.1");
  CHECK(got["fds"] == json::array({"seccompFd"}));
  CHECK(got["pid"] == pid);
  CHECK(got["metadata"] == "MKNOD=/dev/null");
  CHECK(got["state"] == state);

  answerGetppid(agentCopy.get(), pid, EXDEV);
  CHECK(wait(pid).code == EXDEV);
}

TEST_CASE("sendListener: a clear error when no agent listens", "[seccomp]") {
  TempDir dir;
  const std::string state = R"({"ociVersion":"1.2.0","id":"c1","status":"creating","pid":1})";
  auto missing = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_NOTIFY"})",
                                      R"("listenerPath":")" + dir.path + R"(/none.sock",)"));
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  checkUserError([&] { sc::sendListener(missing, devnull.get(), state); },
                 "no seccomp agent listens on \"" + dir.path +
                     "/none.sock\" (linux.seccomp.listenerPath): No such file or directory");

  // A socket nobody listens on.
  const std::string path = dir.path + "/dead.sock";
  UniqueFd dead(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  REQUIRE(::bind(dead.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  auto refused = sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_NOTIFY"})",
                                      R"("listenerPath":")" + path + "\","));
  checkUserError([&] { sc::sendListener(refused, devnull.get(), state); }, "Connection refused");
}

// ---- the program cache

namespace {
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  return names;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  REQUIRE(out.good());
}

bool sameCode(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof a[0]) == 0;
}
}  // namespace

TEST_CASE("cache: a profile compiled once is read back, checked against its identity",
          "[seccomp][filter]") {
  TempDir dir;
  UniqueFd dirfd(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const std::string profile = denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})",
                                       R"("architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],)");
  const sc::Program fresh = sc::compile(profile);
  const sc::Program first = sc::compile(profile, dirfd.get());
  CHECK(sameCode(first.filter, fresh.filter));
  auto names = entries(dir.path);
  REQUIRE(names.size() == 1);
  const std::string entry = dir.path + "/" + names[0];
  const std::string stored = readAll(entry);

  SECTION("a hit returns what the entry holds") {
    std::string changed = stored;
    changed[changed.size() - 4] ^= 1;  // the k of the last instruction
    writeAll(entry, changed);
    const sc::Program hit = sc::compile(profile, dirfd.get());
    REQUIRE(hit.filter.size() == fresh.filter.size());
    CHECK(hit.filter.back().k == (fresh.filter.back().k ^ 1));
  }
  SECTION("a hit behaves like the fresh program") {
    const sc::Program hit = sc::compile(profile, dirfd.get());
    CHECK(sameCode(hit.filter, fresh.filter));
    CHECK(runFiltered(hit, getppidErrno).code == EPERM);
  }
  SECTION("flags and the listener are not part of the identity") {
    sc::compile(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})",
                         R"("architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"flags":[],)"),
                dirfd.get());
    CHECK(entries(dir.path).size() == 1);
  }
  SECTION("another profile is another entry") {
    sc::compile(denyList(R"({"names":["getpid"],"action":"SCMP_ACT_ERRNO"})"), dirfd.get());
    CHECK(entries(dir.path).size() == 2);
  }
  SECTION("an entry whose identity differs (a hash collision) is a miss, and replaced") {
    std::string changed = stored;
    changed[20] ^= 1;  // inside the identity, after the 16-byte header
    writeAll(entry, changed);
    CHECK(sameCode(sc::compile(profile, dirfd.get()).filter, fresh.filter));
    CHECK(readAll(entry) == stored);
  }
  SECTION("a truncated or foreign entry is a miss, and replaced") {
    for (const std::string& bad : {stored.substr(0, stored.size() - 3), std::string("junk"),
                                   std::string(stored.size(), 'x')}) {
      writeAll(entry, bad);
      CHECK(sameCode(sc::compile(profile, dirfd.get()).filter, fresh.filter));
      CHECK(readAll(entry) == stored);
    }
  }
  SECTION("a full directory is emptied before a new entry") {
    for (size_t i = 0; i < sc::cache::kMaxEntries; ++i)
      writeAll(dir.path + "/" + std::to_string(i) + ".bpf", "x");
    sc::compile(denyList(R"({"names":["getpid"],"action":"SCMP_ACT_ERRNO"})"), dirfd.get());
    CHECK(entries(dir.path).size() == 1);
  }
}

TEST_CASE("compileProfile: the parsed profile compiles, and caches, as its text does", "[seccomp][filter]") {
  TempDir dir;
  UniqueFd dirfd(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const std::string profile = denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO"})");
  CHECK(sc::compileProfile(json()).empty());
  const sc::Program fromText = sc::compile(profile, dirfd.get());
  const sc::Program fromValue = sc::compileProfile(json::parse(profile));
  CHECK(sameCode(fromValue.filter, fromText.filter));
  CHECK(fromValue.flags == fromText.flags);
  CHECK(runFiltered(fromValue, getppidErrno).code == EPERM);

  // The value finds the entry the text stored: one identity for both.
  auto names = entries(dir.path);
  REQUIRE(names.size() == 1);
  const std::string entry = dir.path + "/" + names[0];
  std::string changed = readAll(entry);
  changed[changed.size() - 4] ^= 1;  // the k of the last instruction
  writeAll(entry, changed);
  CHECK(sc::compileProfile(json::parse(profile), dirfd.get()).filter.back().k ==
        (fromText.filter.back().k ^ 1));
  // The identity is the validated profile: the same rule spelt out (EPERM is errno 1) is that
  // entry too, another errno is another entry.
  const std::string spelt =
      denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":1})");
  CHECK(sc::compileProfile(json::parse(spelt), dirfd.get()).filter.back().k ==
        (fromText.filter.back().k ^ 1));
  sc::compileProfile(
      json::parse(denyList(R"({"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":2})")),
      dirfd.get());
  CHECK(entries(dir.path).size() == 2);
}

TEST_CASE("multiplexed families keep the profile's order: Podman's socket rules compile",
          "[seccomp][filter]") {
  // Podman's default profile (x86_64, x86, x32): an unconditional socketcall rule, then
  // argument rules on socket, one of them twice. On x86 libseccomp folds socket into
  // socketcall; added after the socketcall rule they merge, added before it they conflict.
  const std::string profile = R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,
    "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[)" +
                              std::string(kExits) + R"(,
    {"names":["socketcall","getppid","close"],"action":"SCMP_ACT_ALLOW"},
    {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":22,
     "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]},
    {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":9,"op":"SCMP_CMP_NE"}]},
    {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":16,"op":"SCMP_CMP_NE"}]},
    {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":9,"op":"SCMP_CMP_NE"}]}]})";
  sc::Program p;
  REQUIRE_NOTHROW(p = sc::compile(profile));
  // The native program still tells the calls apart: netlink audit sockets get EINVAL.
  auto sock = [](int domain, int protocol) {
    return [=](int) {
      long fd = ::syscall(SYS_socket, domain, SOCK_RAW | SOCK_CLOEXEC, protocol);
      return fd < 0 ? errno : 0;
    };
  };
  CHECK(runFiltered(p, sock(AF_NETLINK, 9)).code == EINVAL);
  CHECK(runFiltered(p, sock(AF_NETLINK, 0)).code == 0);
  CHECK(runFiltered(p, getppidErrno).code == 0);
}
