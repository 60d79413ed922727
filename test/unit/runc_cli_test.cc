// The runc personality's input checks: container ids and signal names.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/sys_error.h"
#include "personalities/runc/console_relay.h"
#include "personalities/runc/container_id.h"
#include "personalities/runc/flags.h"
#include "personalities/runc/signals.h"
#include "personalities/runc/state_store.h"
#include "test_util.h"

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using sv::runc::parseSignal;
using sv::runc::validateContainerId;

namespace {

std::string idError(const std::string& id) {
  INFO("container id \"" << id << "\"");
  return sv::test::errorOf([&] { validateContainerId(id); });
}

}  // namespace

TEST_CASE("valid container ids", "[runc][id]") {
  const std::vector<std::string> ids = {"a", "abc",   "my-container_1.2+x",  "A.b", "x.", ".x", "0",
                                        "-", "a.b.c", std::string(1024, 'a')};
  for (const std::string& id : ids) {
    INFO("id: " << id);
    CHECK_NOTHROW(validateContainerId(id));
  }
}

TEST_CASE("invalid container ids", "[runc][id]") {
  const std::string rule =
      "an id may contain only letters, digits, '_', '+', '-' and '.', may not be '.' or '..' or "
      "contain \"..\", and is at most 1024 characters";
  CHECK_THAT(idError(""), Equals("container id cannot be empty"));
  CHECK_THAT(idError("a/b"), Equals("invalid container id \"a/b\": " + rule));
  CHECK_THAT(idError("../x"), Equals("invalid container id \"../x\": " + rule));
  CHECK_THAT(idError(".."), Equals("invalid container id \"..\": " + rule));
  CHECK_THAT(idError("."), Equals("invalid container id \".\": " + rule));
  for (const char* bad : {"a..b", "a b", "a,b", "a:b", "\xc3\xbc", "/abs", "a\n"}) {
    INFO("id: " << bad);
    CHECK_THAT(idError(bad), Contains(rule));
  }
  CHECK_THAT(idError("a\nb"), Contains("\"a\\nb\""));  // escaped, stays on one line

  const std::string tooLong(1025, 'a');
  const auto msg = idError(tooLong);
  CHECK_THAT(msg, Contains("(1025 characters)") && Contains(rule));
  CHECK(msg.size() < 400);  // the id is not echoed in full
}

TEST_CASE("signal names and numbers", "[runc][signal]") {
  CHECK(parseSignal("KILL") == SIGKILL);
  CHECK(parseSignal("SIGKILL") == SIGKILL);
  CHECK(parseSignal("9") == 9);
  CHECK(parseSignal("TERM") == SIGTERM);
  CHECK(parseSignal("SIGHUP") == SIGHUP);
  CHECK(parseSignal("CHLD") == SIGCHLD);
  CHECK(parseSignal("CLD") == SIGCHLD);
  CHECK(parseSignal("IOT") == SIGABRT);
  CHECK(parseSignal("WINCH") == SIGWINCH);
  // runc upper-cases what it is given.
  CHECK(parseSignal("kill") == SIGKILL);
  CHECK(parseSignal("sigterm") == SIGTERM);
  CHECK(parseSignal("1") == 1);
  CHECK(parseSignal("64") == 64);
  CHECK(parseSignal("09") == 9);
}

TEST_CASE("every standard signal glibc names parses to its number", "[runc][signal]") {
  for (int n = 1; n < 32; ++n) {
    const char* abbrev = ::sigabbrev_np(n);
    REQUIRE(abbrev != nullptr);
    INFO("signal " << n << " " << abbrev);
    CHECK(parseSignal(abbrev) == n);
    CHECK(parseSignal(std::string("SIG") + abbrev) == n);
  }
}

TEST_CASE("real-time signals", "[runc][signal]") {
  CHECK(parseSignal("SIGRTMIN+3") == 37);
  CHECK(parseSignal("RTMIN+3") == 37);
  CHECK(parseSignal("RTMIN") == 34);
  CHECK(parseSignal("SIGRTMIN") == 34);
  CHECK(parseSignal("RTMAX-1") == 63);
  CHECK(parseSignal("SIGRTMAX") == 64);
  CHECK(parseSignal("RTMIN+30") == 64);
  CHECK(parseSignal("RTMAX-30") == 34);
  CHECK_FALSE(parseSignal("RTMIN+31"));
  CHECK_FALSE(parseSignal("RTMAX-31"));
  CHECK_FALSE(parseSignal("RTMIN-1"));
  CHECK_FALSE(parseSignal("RTMAX+1"));
  CHECK_FALSE(parseSignal("RTMIN+"));
  CHECK_FALSE(parseSignal("RTMIN+x"));
  CHECK_FALSE(parseSignal("RTMIN3"));
}

TEST_CASE("junk is not a signal", "[runc][signal]") {
  for (const char* junk : {"", "0", "65", "100", "-9", "+9", "9x", "x9", "SIG", "SIGFOO", "FOO",
                           "KILLL", " KILL", "KILL ", "SIGSIGKILL", "99999999999999999999"}) {
    INFO("text: \"" << junk << "\"");
    CHECK_FALSE(parseSignal(junk));
  }
}

namespace {
using sv::runc::FlagKind;
using sv::runc::FlagSpec;
constexpr FlagSpec kTestFlags[] = {
    {"bundle", "b", FlagKind::kString, ""},
    {"force", "f", FlagKind::kBool, ""},
    {"preserve-fds", "", FlagKind::kInt, ""},
    {"env", "e", FlagKind::kStringList, ""},
};

sv::runc::ParsedFlags parse(std::vector<std::string> args, bool stop = false) {
  static std::vector<std::string> keep;
  keep = std::move(args);
  std::vector<char*> argv;
  for (auto& a : keep) argv.push_back(a.data());
  return sv::runc::parseFlags(kTestFlags, argv, stop);
}
}  // namespace

TEST_CASE("parseFlags: runc's -flag/--flag, =value and separate values", "[flags]") {
  auto f = parse({"-bundle", "/b", "--force", "id"});
  CHECK(f.str("bundle") == "/b");
  CHECK(f.flag("force"));
  CHECK(f.positionals == std::vector<std::string>{"id"});
  f = parse({"--bundle=/x", "-f=false", "--preserve-fds", "2", "id"});
  CHECK(f.str("bundle") == "/x");
  CHECK_FALSE(f.flag("force"));
  CHECK(f.integer("preserve-fds") == 2);
  CHECK_THROWS_AS(parse({"--nope"}), sv::UserError);
  CHECK_THROWS_AS(parse({"--bundle"}), sv::UserError);
  CHECK_THROWS_AS(parse({"--preserve-fds", "x"}), sv::UserError);
}

TEST_CASE("parseFlags: repeatable flags keep every value in order", "[flags]") {
  auto f = parse({"--env", "A=1", "-e", "B=2,3", "--env=C=", "id"});
  CHECK(f.list("env") == std::vector<std::string>{"A=1", "B=2,3", "C="});
  CHECK(parse({"id"}).list("env").empty());
}

TEST_CASE("parseFlags: stopping at the first positional leaves the command's flags alone",
          "[flags]") {
  auto f = parse({"-f", "id", "ls", "-l", "--force"}, true);
  CHECK(f.flag("force"));
  CHECK(f.positionals == std::vector<std::string>{"id", "ls", "-l", "--force"});
  auto lenient = parse({"id", "--force"});
  CHECK(lenient.flag("force"));
}

// ---------------------------------------------------------------------------------------------
// The console relay of a systemd init without a terminal

TEST_CASE("console relay: line ends come out as \\n, across chunks too", "[runc][console]") {
  using sv::runc::stripCrBeforeLf;
  unsigned cr = 0;
  CHECK(stripCrBeforeLf("a\r\nb\r\n", cr) == "a\nb\n");
  CHECK(stripCrBeforeLf("systemd\r\r\nplain\n", cr) == "systemd\nplain\n");  // "\r\n" + ONLCR
  CHECK(cr == 0);
  CHECK(stripCrBeforeLf("progress\r50%\r\r", cr) == "progress\r50%");
  CHECK(cr == 2);
  CHECK(stripCrBeforeLf("\nnext", cr) == "\nnext");  // the held '\r's were a line end
  CHECK(cr == 0);
  CHECK(stripCrBeforeLf("x\r", cr) == "x");
  CHECK(stripCrBeforeLf("y", cr) == "\ry");  // a lone '\r': given back
  CHECK(stripCrBeforeLf("", cr).empty());
  // A long run of '\r' is not a line end: all but the last 16 come out at once.
  CHECK(stripCrBeforeLf(std::string(20, '\r'), cr) == std::string(4, '\r'));
  CHECK(cr == 16);
  CHECK(stripCrBeforeLf("z", cr) == std::string(16, '\r') + "z");
}

namespace {

// A pty master (its slave's path in slavePath) and a process standing for a container's init.
struct FakeConsole {
  int master = -1;
  std::string slavePath;
  pid_t init = -1;
  sv::UniqueFd initFd;
  FakeConsole() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    slavePath = ::ptsname(master);
    init = ::fork();
    REQUIRE(init >= 0);
    if (init == 0) {
      ::pause();
      ::_exit(0);
    }
    initFd = sv::pidfdOpen(init);
    REQUIRE(initFd);
  }
  ~FakeConsole() {
    ::kill(init, SIGKILL);
    ::waitpid(init, nullptr, 0);
    if (master >= 0) ::close(master);
  }
};

// Everything from fd until EOF (or "TIMEOUT" after 10 s).
std::string readToEof(int fd) {
  std::string got;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return got + "TIMEOUT";
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

TEST_CASE("console relay: copies the console until the init is gone", "[runc][console]") {
  FakeConsole c;
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  sv::runc::ConsoleRelay relay = sv::runc::startConsoleRelay(c.master, out[1], c.initFd.get());
  ::close(out[1]);
  ::close(c.master);
  c.master = -1;
  CHECK(relay.pid > 0);
  CHECK(relay.startTime > 0);
  // systemd's way: /dev/console opened for each message and closed again; in between no one
  // has the slave open, which must not end the relay.
  for (const char* msg : {"Booting\n", "[  OK  ] Reached target\r\n", "Halting system.\n"}) {
    int slave = ::open(c.slavePath.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    REQUIRE(slave >= 0);
    CHECK(::write(slave, msg, strlen(msg)) == static_cast<ssize_t>(strlen(msg)));
    ::close(slave);
    ::usleep(20000);
  }
  ::kill(c.init, SIGKILL);
  // The tty turned each "\n" into "\r\n"; the relay gives the lines back as written.
  CHECK(readToEof(out[0]) == "Booting\n[  OK  ] Reached target\nHalting system.\n");
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(relay.pid, &status, 0) == relay.pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("console relay: delete stops a relay, and only the one it started",
          "[runc][console]") {
  FakeConsole c;
  sv::runc::ConsoleRelay relay = sv::runc::startConsoleRelay(c.master, STDOUT_FILENO,
                                                             c.initFd.get());
  // Another start time: a recycled pid, not ours.
  sv::runc::stopConsoleRelay({relay.pid, relay.startTime + 1});
  struct pollfd p = {sv::pidfdOpen(relay.pid).release(), POLLIN, 0};
  CHECK(::poll(&p, 1, 200) == 0);
  ::close(p.fd);
  sv::runc::stopConsoleRelay(relay);
  int status = 0;
  REQUIRE(::waitpid(relay.pid, &status, 0) == relay.pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("state: systemd init and console relay survive state.json", "[runc][state]") {
  sv::runc::ContainerState s;
  s.id = "c1";
  s.systemContainer = true;
  s.systemdInit = true;
  s.consoleRelayPid = 4242;
  s.consoleRelayStart = 987654;
  auto back = sv::runc::stateFromJson(sv::runc::stateToJson(s));
  CHECK(back.systemdInit);
  CHECK(back.consoleRelayPid == 4242);
  CHECK(back.consoleRelayStart == 987654);
  s.systemdInit = false;
  s.consoleRelayPid = 0;
  auto plain = sv::runc::stateFromJson(sv::runc::stateToJson(s));
  CHECK_FALSE(plain.systemdInit);
  CHECK(plain.consoleRelayPid == 0);
}
