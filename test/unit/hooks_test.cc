// OCI hooks: config parsing, and running hooks (/bin/sh scripts in a temporary directory)
// through both the runtime-side API and the allocation-free one the container init uses.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "oci/hooks.h"
#include "test_util.h"

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using sv::readFile;
using sv::oci::Hook;
using sv::oci::Hooks;
using sv::oci::parseHooks;
using sv::test::errorOf;
using sv::test::TempDir;

namespace {

std::string parseError(const std::string& json) {
  INFO("hooks: " << json);
  return errorOf([&] { parseHooks(json); });
}

Hook sh(const std::string& script, std::vector<std::string> env = {}, int timeout = 0) {
  return Hook{"/bin/sh", {"sh", "-c", script}, std::move(env), false, timeout};
}

// Each hook appends "<name>:<its stdin>|" to $LOG.
Hook appender(const std::string& name, const std::string& log) {
  return sh("printf '%s:' " + name + " >> \"$LOG\"; cat >> \"$LOG\"; printf '|' >> \"$LOG\"",
            {"LOG=" + log});
}

enum class Api { kRuntime, kNoAlloc };

// Runs the list through one API; the error message on failure.
std::optional<std::string> runList(Api api, const std::vector<Hook>& hooks,
                                   const std::string& state, const std::string& phase) {
  if (api == Api::kRuntime) {
    try {
      sv::oci::runHooks(hooks, state, phase);
    } catch (const sv::oci::HookError& e) {
      return std::string(e.what());
    }
    return std::nullopt;
  }
  sv::oci::PreparedHooks prepared = sv::oci::prepare(hooks, phase);
  // Moving must keep every prepared pointer valid.
  sv::oci::PreparedHooks moved = std::move(prepared);
  static char errbuf[16384];
  std::memset(errbuf, 'x', sizeof errbuf);
  int rc = sv::oci::runPreparedNoAlloc(moved, state.data(), state.size(), errbuf, sizeof errbuf);
  if (rc == 0) {
    CHECK(errbuf[0] == '\0');
    return std::nullopt;
  }
  CHECK(rc == -1);
  return std::string(errbuf);
}

const char* apiName(Api api) {
  return api == Api::kRuntime ? "runHooks" : "runPreparedNoAlloc";
}

}  // namespace

// ---- parsing

TEST_CASE("hooks parse: every kind, in order, with args, env and timeout", "[hooks][parse]") {
  Hooks h = parseHooks(R"({
    "prestart": [{"path": "/bin/a", "args": ["a", "1"], "env": ["X=1"], "timeout": 5},
                 {"path": "/bin/b"}],
    "createRuntime": [{"path": "/bin/c"}],
    "createContainer": [{"path": "/bin/d", "args": []}],
    "startContainer": [{"path": "/bin/e", "env": null, "timeout": null}],
    "poststart": [{"path": "/bin/f", "unknownKey": 1}],
    "poststop": [{"path": "/bin/g", "args": ["g", "-f"]}],
    "somethingNew": [{"path": "relative is fine: unknown kinds are ignored"}],
    "createRuntime2": 7
  })");
  REQUIRE(h.prestart.size() == 2);
  CHECK(h.prestart[0].path == "/bin/a");
  CHECK(h.prestart[0].args == std::vector<std::string>{"a", "1"});
  CHECK(h.prestart[0].env == std::vector<std::string>{"X=1"});
  CHECK(h.prestart[0].timeoutSec == 5);
  CHECK(h.prestart[1].path == "/bin/b");
  CHECK(h.prestart[1].args.empty());
  CHECK(h.prestart[1].timeoutSec == 0);
  REQUIRE(h.createRuntime.size() == 1);
  CHECK(h.createRuntime[0].path == "/bin/c");
  REQUIRE(h.createContainer.size() == 1);
  CHECK(h.createContainer[0].args.empty());
  REQUIRE(h.startContainer.size() == 1);
  CHECK(h.startContainer[0].env.empty());
  CHECK(h.startContainer[0].timeoutSec == 0);
  REQUIRE(h.poststart.size() == 1);
  REQUIRE(h.poststop.size() == 1);
  CHECK(h.poststop[0].args == std::vector<std::string>{"g", "-f"});

  Hooks none = parseHooks("");
  CHECK(none.prestart.empty());
  CHECK(none.poststop.empty());
  CHECK(parseHooks("{}").poststart.empty());
  CHECK(parseHooks(R"({"poststop": null})").poststop.empty());
}

TEST_CASE("hooks parse errors name the field", "[hooks][parse]") {
  CHECK_THAT(parseError(R"({"poststart": [{"path": "/ok"}, {"path": "bin/x"}]})"),
             Equals("config.json: hooks.poststart[1].path must be absolute (got \"bin/x\")"));
  CHECK_THAT(parseError(R"({"prestart": [{"path": ""}]})"),
             StartsWith("config.json: hooks.prestart[0].path must be absolute"));
  CHECK_THAT(parseError(R"({"createRuntime": [{"args": ["a"]}]})"),
             Equals("config.json: hooks.createRuntime[0].path is required"));
  CHECK_THAT(parseError(R"({"createContainer": [{"path": 3}]})"),
             Equals("config.json: hooks.createContainer[0].path must be a string"));
  CHECK_THAT(parseError(R"({"poststop": [{"path": "/a\u0000b"}]})"),
             Equals("config.json: hooks.poststop[0].path contains a NUL byte; remove it"));
  CHECK_THAT(parseError(R"({"startContainer": [{"path": "/a", "args": "a b"}]})"),
             Equals("config.json: hooks.startContainer[0].args must be an array of strings"));
  CHECK_THAT(parseError(R"({"startContainer": [{"path": "/a", "args": ["a", 2]}]})"),
             Equals("config.json: hooks.startContainer[0].args[1] must be a string"));
  CHECK_THAT(parseError(R"({"poststart": [{"path": "/a", "env": ["A=1", null]}]})"),
             Equals("config.json: hooks.poststart[0].env[1] must be a string"));
  for (const char* t : {"0", "-1"}) {
    INFO("timeout " << t);
    CHECK_THAT(parseError(std::string(R"({"poststop": [{"path": "/a", "timeout": )") + t + "}]}"),
               Equals("config.json: hooks.poststop[0].timeout must be greater than zero (leave "
                      "it out for no timeout)"));
  }
  for (const char* t : {"1.5", "\"5\"", "true"}) {
    INFO("timeout " << t);
    CHECK_THAT(parseError(std::string(R"({"poststop": [{"path": "/a", "timeout": )") + t + "}]}"),
               Equals("config.json: hooks.poststop[0].timeout must be a whole number of seconds"));
  }
  CHECK_THAT(parseError(R"({"poststop": [{"path": "/a", "timeout": 4294967296}]})"),
             StartsWith("config.json: hooks.poststop[0].timeout must be at most"));
  CHECK_THAT(parseError(R"({"prestart": {"path": "/a"}})"),
             Equals("config.json: hooks.prestart must be an array of hooks"));
  CHECK_THAT(parseError(R"({"prestart": ["/a"]})"),
             StartsWith("config.json: hooks.prestart[0] must be an object"));
  CHECK_THAT(parseError("[]"), Equals("config.json: hooks must be an object"));
}

// ---- running, through both APIs

TEST_CASE("hooks run in order, each with the state on stdin", "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  TempDir tmp;
  std::string log = tmp.file("log");
  std::string state = R"({"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42})";
  auto err = runList(api, {appender("a", log), appender("b", log), appender("c", log)}, state,
                     "createRuntime");
  REQUIRE_FALSE(err);
  CHECK(readFile(log) == "a:" + state + "|b:" + state + "|c:" + state + "|");
}

TEST_CASE("hooks get the state exactly, however large", "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  TempDir tmp;
  std::string out = tmp.file("stdin");
  // Bytes a shell or a line reader would mangle, no trailing newline, and more than a pipe
  // holds (64 KiB), so the hook must read while we write.
  std::string state = "{\"a\":\"\\n\\\"x\\\" \\u00e9\t\"}";
  while (state.size() < 300 * 1024) state += "0123456789abcdef";
  auto err = runList(api, {sh("cat > \"$OUT\"", {"OUT=" + out})}, state, "poststart");
  REQUIRE_FALSE(err);
  CHECK(readFile(out) == state);

  // An empty state: stdin is at EOF at once.
  err = runList(api, {sh("cat > \"$OUT\"", {"OUT=" + out})}, "", "poststart");
  REQUIRE_FALSE(err);
  CHECK(readFile(out).empty());
}

TEST_CASE("hooks get exactly their args and env", "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  TempDir tmp;
  std::string out = tmp.file("out");
  ::setenv("SV_HOOKS_TEST_LEAK", "1", 1);  // must not reach the hook
  // /proc/$$/{environ,cmdline} show what execve got, before the shell adds anything.
  std::string script =
      "tr '\\000' '\\n' < /proc/$$/environ > \"$OUT\"; echo -- >> \"$OUT\"; "
      "tr '\\000' '\\n' < /proc/$$/cmdline >> \"$OUT\"";
  Hook h{"/bin/sh", {"my-sh", "-c", script, "zero", "one two", ""}, {"OUT=" + out, "A=1", "E="}};
  auto err = runList(api, {h}, "{}", "poststop");
  ::unsetenv("SV_HOOKS_TEST_LEAK");
  REQUIRE_FALSE(err);
  CHECK(readFile(out) ==
        "OUT=" + out + "\nA=1\nE=\n--\nmy-sh\n-c\n" + script + "\nzero\none two\n\n");

  // No "env" in config.json: the runtime's environment, as with runc.
  ::setenv("SV_HOOKS_TEST_INHERIT", "yes", 1);
  Hooks parsed = parseHooks(R"({"poststop":[{"path":"/bin/sh","args":["sh","-c",)"
                            R"("echo $SV_HOOKS_TEST_INHERIT > \"$0\"",")" + out + R"("]}]})");
  REQUIRE(parsed.poststop.size() == 1);
  CHECK(parsed.poststop[0].inheritEnv);
  err = runList(api, parsed.poststop, "{}", "poststop");
  ::unsetenv("SV_HOOKS_TEST_INHERIT");
  REQUIRE_FALSE(err);
  CHECK(readFile(out) == "yes\n");

  // No args: argv is {path}. /bin/sh without -c reads its script from stdin, the state.
  std::string state = "tr '\\000' '\\n' < /proc/$$/cmdline > " + out + "\n";
  err = runList(api, {Hook{"/bin/sh", {}, {}, false, 0}}, state, "poststop");
  REQUIRE_FALSE(err);
  CHECK(readFile(out) == "/bin/sh\n");
}

TEST_CASE("hooks get only fds 0-2, default signals and an empty mask", "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  // A non-CLOEXEC fd of ours, an ignored signal and a blocked one: none may reach the hook.
  int leak = ::open("/dev/null", O_RDONLY);
  REQUIRE(leak >= 0);
  REQUIRE(::dup2(leak, 50) == 50);
  struct sigaction ign {
  }, oldUsr1{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGUSR1, &ign, &oldUsr1);
  sigset_t usr2, oldMask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ::sigprocmask(SIG_BLOCK, &usr2, &oldMask);

  // Anything wrong is printed to stderr, and the hook fails.
  Hook check = sh(
      "for fd in 3 4 5 6 7 8 9 50; do [ -e /proc/$$/fd/$fd ] && { echo \"fd $fd\" >&2; exit 1; }; "
      "done; if grep -E '^Sig(Blk|Ign):' /proc/$$/status | grep -v ':\t0000000000000000$' >&2; "
      "then exit 1; fi; exit 0");
  auto err = runList(api, {check}, "{}", "startContainer");

  ::sigprocmask(SIG_SETMASK, &oldMask, nullptr);
  ::sigaction(SIGUSR1, &oldUsr1, nullptr);
  ::close(50);
  ::close(leak);
  CHECK_FALSE(err);
  if (err) FAIL(*err);
}

TEST_CASE("a failing hook stops the list; the error names phase, index, status and output",
          "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  TempDir tmp;
  std::string log = tmp.file("log");
  Hook fail = sh("cat > /dev/null; echo out; echo 'it broke' >&2; exit 3");
  auto err = runList(api, {appender("a", log), fail, appender("c", log)}, "S", "createRuntime");
  REQUIRE(err);
  CHECK_THAT(*err,
             Equals("error running createRuntime hook #1: exit status 3, stdout: out\n, stderr: "
                    "it broke\n"));
  CHECK(readFile(log) == "a:S|");

  err = runList(api, {sh("kill -TERM $$")}, "S", "prestart");
  REQUIRE(err);
  CHECK_THAT(*err,
             Equals("error running prestart hook #0: signal: terminated, stdout: , stderr: "));

  err = runList(api, {Hook{"/nonexistent/hook", {}, {}, false, 0}}, "S", "startContainer");
  REQUIRE(err);
  CHECK_THAT(*err, Equals("error running startContainer hook #0: exec \"/nonexistent/hook\": No "
                          "such file or directory"));

  // Output beyond the capture is dropped (and read, so the hook does not block on it).
  err = runList(api, {sh("head -c 100000 /dev/zero | tr '\\000' x; exit 1")}, "S", "poststart");
  REQUIRE(err);
  CHECK_THAT(*err, Contains("xxxx...(truncated), stderr: "));
  CHECK(err->size() < 5000);
}

TEST_CASE("the collecting variant reports failures and runs the remaining hooks", "[hooks][run]") {
  TempDir tmp;
  std::string log = tmp.file("log");
  Hook fail = sh("echo nope >&2; exit 1");
  std::vector<std::string> failures = sv::oci::runHooksCollectingFailures(
      {appender("a", log), fail, appender("c", log), fail}, "S", "poststop");
  CHECK(readFile(log) == "a:S|c:S|");
  REQUIRE(failures.size() == 2);
  CHECK(failures[0] == "error running poststop hook #1: exit status 1, stdout: , stderr: nope\n");
  CHECK_THAT(failures[1], Contains("error running poststop hook #3: exit status 1"));
}

TEST_CASE("a hook past its timeout is killed, with what it started", "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  TempDir tmp;
  std::string pidFile = tmp.file("pid");
  // A grandchild too: the hook's process group is killed, not just the hook.
  Hook h = sh("sleep 100 & echo $! > \"$PIDF\"; sleep 100", {"PIDF=" + pidFile}, 1);
  auto start = std::chrono::steady_clock::now();
  auto err = runList(api, {h, sh("exit 0")}, "S", "poststart");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(err);
  CHECK_THAT(*err,
             StartsWith("error running poststart hook #0: timed out after 1s and was killed"));
  CHECK(secs >= 0.9);
  CHECK(secs < 5);
  pid_t grandchild = std::stoi(readFile(pidFile));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto st = sv::readProcStat(grandchild);
    gone = !st || st->state == 'Z' || st->state == 'X';
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(gone);

  // A plain `sleep 100` as the hook itself.
  start = std::chrono::steady_clock::now();
  err = runList(api, {Hook{"/bin/sleep", {"sleep", "100"}, {}, false, 1}}, "S", "startContainer");
  secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(err);
  CHECK_THAT(*err, Contains("timed out after 1s"));
  CHECK(secs < 5);
}

TEST_CASE("a hook that never reads a big state does not hang us", "[hooks][run]") {
  Api api = GENERATE(Api::kRuntime, Api::kNoAlloc);
  INFO(apiName(api));
  std::string state(1 << 20, 's');
  auto start = std::chrono::steady_clock::now();
  // Exits at once, and after a while (we must notice the exit while the pipe is full).
  auto err =
      runList(api, {Hook{"/bin/true", {}, {}, false, 0}, sh("sleep 0.2; exit 0")}, state, "createRuntime");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_FALSE(err);
  CHECK(secs < 5);
  // The SIGPIPE of the write to the closed pipe is not left pending for us.
  sigset_t pending;
  ::sigpending(&pending);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));

  // Closing stdin early then failing: still reported as the hook's failure.
  err = runList(api, {sh("exec 0<&-; sleep 0.1; exit 4")}, state, "createRuntime");
  REQUIRE(err);
  CHECK_THAT(*err, StartsWith("error running createRuntime hook #0: exit status 4"));
}

TEST_CASE("runHook runs in the given working directory", "[hooks][run]") {
  TempDir tmp;
  std::string out = tmp.file("cwd");
  sv::oci::runHook(sh("pwd -P > \"$OUT\"", {"OUT=" + out}), "{}", "poststop", 0, tmp.path.c_str());
  CHECK(readFile(out) == tmp.path + "\n");  // TempDir paths are canonical
  try {
    sv::oci::runHook(sh("exit 0"), "{}", "poststop", 2, "/nonexistent-dir");
    FAIL("ran in a missing directory");
  } catch (const sv::oci::HookError& e) {
    CHECK_THAT(e.what(),
               StartsWith("error running poststop hook #2: chdir to \"/nonexistent-dir\""));
  }
}
