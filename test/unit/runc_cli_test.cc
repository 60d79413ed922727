// The runc personality's input checks: container ids and signal names.
#include <signal.h>
#include <string.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "personalities/runc/container_id.h"
#include "personalities/runc/flags.h"
#include "personalities/runc/signals.h"
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
