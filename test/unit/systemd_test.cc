// The systemd cgroup driver: cgroupsPath parsing, unit names, ExpandSlice, D-Bus marshalling
// checked byte for byte against buffers built by hand from the specification, reply parsing,
// and the client over a real socket against a fake systemd (and, where dbus-daemon is
// installed, through a real bus). No privileges, no systemd needed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "base/dbus.h"
#include "base/sys_error.h"
#include "nsutil/systemd_cgroup.h"
#include "test_util.h"

using namespace sv;
using sv::test::TempDir;
namespace sd = sv::cg::systemd;
using namespace std::chrono_literals;

namespace {

// Hand-built wire pieces (little-endian), independent of dbus::Writer.
std::string le32(uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
          static_cast<char>(v >> 24)};
}
std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string zeros(size_t n) {
  return std::string(n, '\0');
}
std::string nul(std::string_view s) {
  return std::string(s) + '\0';
}

}  // namespace

// --- cgroupsPath, unit names, slices ---

TEST_CASE("cgroupsPath slice:prefix:name is a scope <prefix>-<name>.scope in the slice",
          "[systemd]") {
  auto u = sd::parseCgroupsPath("system.slice:docker:abc", "id1");
  CHECK(u.slice == "system.slice");
  CHECK(u.name == "docker-abc.scope");
  CHECK(u.containerName == "abc");
  CHECK(u.cgroupPath == "/system.slice/docker-abc.scope");
  CHECK_FALSE(u.isSlice());

  auto nested = sd::parseCgroupsPath("machine-pods.slice:libpod:x1", "id1");
  CHECK(nested.cgroupPath == "/machine.slice/machine-pods.slice/libpod-x1.scope");
  CHECK(sd::parseCgroupsPath("-.slice:p:n", "id").cgroupPath == "/p-n.scope");
}

TEST_CASE("cgroupsPath defaults: empty slice is system.slice, empty path is runc-<id>.scope",
          "[systemd]") {
  auto u = sd::parseCgroupsPath(":docker:abc", "id1");
  CHECK(u.slice == "system.slice");
  CHECK(u.cgroupPath == "/system.slice/docker-abc.scope");
  auto d = sd::parseCgroupsPath("", "c1");
  CHECK(d.slice == "system.slice");
  CHECK(d.name == "runc-c1.scope");
  CHECK(d.containerName == "c1");
  CHECK(d.cgroupPath == "/system.slice/runc-c1.scope");
  // runc and crun keep the dash when the prefix is empty.
  CHECK(sd::parseCgroupsPath("system.slice::abc", "x").name == "-abc.scope");
}

TEST_CASE("cgroupsPath: a name ending in .slice makes the unit a slice, placed by its name",
          "[systemd]") {
  auto u = sd::parseCgroupsPath("system.slice:ignored:kube-pod1.slice", "id");
  CHECK(u.isSlice());
  CHECK(u.name == "kube-pod1.slice");
  CHECK(u.cgroupPath == "/kube.slice/kube-pod1.slice");
}

TEST_CASE("cgroupsPath: malformed paths and unit names are refused", "[systemd]") {
  CHECK_THROWS_WITH(sd::parseCgroupsPath("system.slice:docker", "x"),
                    Catch::Contains("slice:prefix:name"));
  CHECK_THROWS_WITH(sd::parseCgroupsPath("a.slice:b:c:d", "x"),
                    Catch::Contains("slice:prefix:name"));
  CHECK_THROWS_WITH(sd::parseCgroupsPath("/docker/abc", "x"), Catch::Contains("slice:prefix:name"));
  CHECK_THROWS_WITH(sd::parseCgroupsPath("system.slice:p:a/../../b", "x"),
                    Catch::Contains("not a valid systemd unit name"));
  CHECK_THROWS_WITH(sd::parseCgroupsPath("system.slice:p:", "x"),
                    Catch::Contains("not a valid systemd unit name"));
  CHECK_THROWS_WITH(sd::parseCgroupsPath("system.slice:p q:n", "x"),
                    Catch::Contains("not a valid systemd unit name"));
  CHECK_THROWS_WITH(sd::parseCgroupsPath("system:p:n", "x"),
                    Catch::Contains("invalid slice name: system"));
}

TEST_CASE("expandSlice follows runc's ExpandSlice", "[systemd]") {
  CHECK(sd::expandSlice("test-a-b.slice") == "/test.slice/test-a.slice/test-a-b.slice");
  CHECK(sd::expandSlice("system.slice") == "/system.slice");
  CHECK(sd::expandSlice("-.slice") == "/");
  for (const char* bad :
       {".slice", "test", "test--a.slice", "-test.slice", "test-.slice", "a/b.slice", "slice"})
    CHECK_THROWS_WITH(sd::expandSlice(bad), Catch::Contains("invalid slice name"));
}

TEST_CASE("requireBooted: without /run/systemd/system, say what to do", "[systemd]") {
  TempDir t;
  CHECK(sd::booted(t.path.c_str()));
  std::string missing = t.path + "/system";
  CHECK_FALSE(sd::booted(missing.c_str()));
  std::ofstream(t.path + "/file") << "x";
  CHECK_FALSE(sd::booted((t.path + "/file").c_str()));
  CHECK_NOTHROW(sd::requireBooted(t.path.c_str()));
  CHECK_THROWS_WITH(sd::requireBooted(missing.c_str()),
                    Catch::Contains("drop --systemd-cgroup") && Catch::Contains(missing));
}

// --- properties and marshalling ---

namespace {
// name -> "signature=value" for the property types the tests use.
std::map<std::string, std::string> readProperties(dbus::Reader& r) {
  std::map<std::string, std::string> out;
  size_t end = r.beginArray(8);
  while (r.pos() < end) {
    r.beginStruct();
    std::string name = r.string();
    std::string sig = r.signature();
    std::string value;
    if (sig == "s") {
      value = r.string();
    } else if (sig == "b") {
      value = r.boolean() ? "true" : "false";
    } else if (sig == "au" || sig == "as") {
      size_t e = r.beginArray(4);
      while (r.pos() < e)
        value += (value.empty() ? "" : ",") + (sig == "au" ? std::to_string(r.u32()) : r.string());
    } else {
      r.skip(sig);
      value = "?";
    }
    out[name] = sig + "=" + value;
  }
  return out;
}
}  // namespace

TEST_CASE("unitProperties: what runc sets on a container scope", "[systemd]") {
  auto u = sd::parseCgroupsPath("system.slice:docker:abc", "id");
  auto props = sd::unitProperties(u, 4242, true);
  std::vector<std::string> names;
  for (const auto& p : props) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"Description", "Slice", "Delegate", "PIDs",
                                          "MemoryAccounting", "CPUAccounting", "IOAccounting",
                                          "TasksAccounting", "DefaultDependencies"});
  dbus::Writer w;
  w.properties(props);
  dbus::Reader r(w.data(), false);
  auto m = readProperties(r);
  CHECK(r.atEnd());
  CHECK(m["Description"] == "s=libcontainer container abc");
  CHECK(m["Slice"] == "s=system.slice");
  CHECK(m["Delegate"] == "b=true");
  CHECK(m["PIDs"] == "au=4242");
  CHECK(m["DefaultDependencies"] == "b=false");

  // cgroup v1 and hybrid: BlockIOAccounting, as runc's legacy manager.
  auto v1 = sd::unitProperties(u, 1, false);
  CHECK(v1[6].name == "BlockIOAccounting");

  // A slice has no pid and no delegation; it wants its parent.
  auto s = sd::unitProperties(sd::parseCgroupsPath("system.slice:x:kube-a.slice", "id"), 9, true);
  dbus::Writer ws;
  ws.properties(s);
  dbus::Reader rs(ws.data(), false);
  auto ms = readProperties(rs);
  CHECK(ms["Wants"] == "as=system.slice");
  CHECK(ms.count("PIDs") == 0);
  CHECK(ms.count("Delegate") == 0);
  CHECK(ms.count("Slice") == 0);
}

TEST_CASE("StartTransientUnit call, byte for byte", "[systemd][dbus]") {
  std::vector<dbus::Property> props = {{"PIDs", std::vector<uint32_t>{7}}, {"Delegate", true}};
  dbus::Message m = sd::startTransientUnitCall("p-n.scope", props);
  m.serial = 1;
  std::string body = le32(9) + nul("p-n.scope") + zeros(2) +  // s, then pad to 4
                     le32(7) + nul("replace") +               // s (at 16)
                     le32(44) +                               // a(sv): 44 bytes from 32
                     le32(4) + nul("PIDs") + "\x02" + nul("au") + zeros(3) +    // (s v=au
                     le32(4) + le32(7) +                                        //  [7])
                     le32(8) + nul("Delegate") + "\x01" + nul("b") + le32(1) +  // (s v=b true)
                     le32(0);  // a(sa(sv)) empty, at 76 -> 80
  REQUIRE(body.size() == 80);
  std::string header = std::string("l\x01\x00\x01", 4) + le32(80) + le32(1) + le32(182) + "\x01" +
                       "\x01" + nul("o") + le32(25) + nul("/org/freedesktop/systemd1") +
                       zeros(6) +  // PATH, pad to 56
                       "\x02" + "\x01" + nul("s") + le32(32) +
                       nul("org.freedesktop.systemd1.Manager") + zeros(7) +  // INTERFACE, to 104
                       "\x03" + "\x01" + nul("s") + le32(18) + nul("StartTransientUnit") +
                       zeros(5) +  // MEMBER, to 136
                       "\x06" + "\x01" + nul("s") + le32(24) + nul("org.freedesktop.systemd1") +
                       zeros(7) +  // DESTINATION, to 176
                       "\x08" + "\x01" + nul("g") + "\x10" + nul("ssa(sv)a(sa(sv))") +  // to 198
                       zeros(2);  // header padded to 8
  REQUIRE(header.size() == 200);
  CHECK(dbus::encode(m) == header + body);
}

TEST_CASE("decode reads back what encode wrote, and the full StartTransientUnit body",
          "[systemd][dbus]") {
  auto u = sd::parseCgroupsPath("system.slice:docker:abc", "id");
  dbus::Message m = sd::startTransientUnitCall(u.name, sd::unitProperties(u, 77, true));
  m.serial = 5;
  std::string wire = dbus::encode(m);
  size_t used = 0;
  for (size_t cut = 0; cut < wire.size(); ++cut)
    REQUIRE_FALSE(dbus::decode(std::string_view(wire).substr(0, cut), &used));
  auto d = dbus::decode(wire + "trailing", &used);
  REQUIRE(d);
  CHECK(used == wire.size());
  CHECK(d->type == dbus::Type::kMethodCall);
  CHECK(d->serial == 5);
  CHECK(d->path == "/org/freedesktop/systemd1");
  CHECK(d->interface == "org.freedesktop.systemd1.Manager");
  CHECK(d->member == "StartTransientUnit");
  CHECK(d->destination == "org.freedesktop.systemd1");
  CHECK(d->signature == "ssa(sv)a(sa(sv))");
  dbus::Reader r = d->reader();
  CHECK(r.string() == "docker-abc.scope");
  CHECK(r.string() == "replace");
  auto props = readProperties(r);
  CHECK(props.size() == 9);
  CHECK(props["PIDs"] == "au=77");
  CHECK(props["IOAccounting"] == "b=true");
  size_t end = r.beginArray(8);
  CHECK(r.pos() == end);
  CHECK(r.atEnd());
}

TEST_CASE("every property value type round-trips through skip", "[systemd][dbus]") {
  std::vector<dbus::Property> props = {
      {"S", std::string("x")},
      {"B", false},
      {"U", uint32_t{3}},
      {"T", uint64_t{1} << 40},
      {"AU", std::vector<uint32_t>{1, 2}},
      {"AS", std::vector<std::string>{"a", "bc"}},
      {"AY", std::vector<uint8_t>{1, 2, 3}},
      {"ASS", std::vector<std::pair<std::string, std::string>>{{"/dev/null", "rwm"}}},
      {"AST", std::vector<std::pair<std::string, uint64_t>>{{"/dev/sda", 1000}, {"/dev/sdb", 2}}},
  };
  dbus::Writer w;
  w.byte(1);  // misalign the start: every value must pad itself
  w.properties(props);
  dbus::Reader r(w.data(), false);
  r.byte();
  size_t end = r.beginArray(8);
  std::vector<std::string> sigs;
  while (r.pos() < end) {
    r.beginStruct();
    r.string();
    std::string sig = r.signature();
    sigs.push_back(sig);
    if (sig == "t")
      CHECK(r.u64() == uint64_t{1} << 40);
    else
      r.skip(sig);
  }
  CHECK(r.atEnd());
  CHECK(sigs == std::vector<std::string>{"s", "b", "u", "t", "au", "as", "ay", "a(ss)", "a(st)"});
}

TEST_CASE("replies, errors and big-endian signals parse", "[systemd][dbus]") {
  // METHOD_RETURN to serial 3 with a job path: REPLY_SERIAL at 16..24, SIGNATURE at 24..31,
  // padding to 32, body.
  std::string rbody = le32(31) + nul("/org/freedesktop/systemd1/job/9");
  std::string ret = std::string("l\x02\x00\x01", 4) + le32(static_cast<uint32_t>(rbody.size())) +
                    le32(11) + le32(15) + "\x05" + "\x01" + nul("u") + le32(3) + "\x08" + "\x01" +
                    nul("g") + "\x01" + nul("o") + zeros(1) + rbody;
  size_t used = 0;
  auto r = dbus::decode(ret, &used);
  REQUIRE(r);
  CHECK(used == ret.size());
  CHECK(r->type == dbus::Type::kMethodReturn);
  CHECK(r->serial == 11);
  CHECK(r->replySerial == 3);
  CHECK(r->signature == "o");
  CHECK(r->reader().string() == "/org/freedesktop/systemd1/job/9");

  // ERROR with a name and a message (flags: NO_REPLY_EXPECTED, to see flags read).
  std::string ebody = le32(27) + nul("Unit docker-a.scope exists.");
  std::string fields = std::string("\x04") + "\x01" + nul("s") + le32(35) +
                       nul("org.freedesktop.systemd1.UnitExists") +       // 16..60
                       zeros(4) + "\x05" + "\x01" + nul("u") + le32(4) +  // 64..72
                       "\x08" + "\x01" + nul("g") + "\x01" + nul("s");    // 72..79
  REQUIRE(fields.size() == 63);
  std::string err = std::string("l\x03\x01\x01", 4) + le32(static_cast<uint32_t>(ebody.size())) +
                    le32(12) + le32(63) + fields + zeros(1) + ebody;
  auto e = dbus::decode(err, &used);
  REQUIRE(e);
  CHECK(e->type == dbus::Type::kError);
  CHECK(e->flags == 1);
  CHECK(e->errorName == "org.freedesktop.systemd1.UnitExists");
  CHECK(e->replySerial == 4);
  CHECK(e->firstString() == "Unit docker-a.scope exists.");
  dbus::Error de(e->errorName, e->firstString());
  CHECK(de.name() == "org.freedesktop.systemd1.UnitExists");
  CHECK(std::string(de.what()) ==
        "Unit docker-a.scope exists. (org.freedesktop.systemd1.UnitExists)");

  // A big-endian JobRemoved signal (uoss), as a big-endian host's systemd sends it:
  // u at 0, o at 4..40, s at 40..52, s at 52..61.
  std::string sbody = be32(9) + be32(31) + nul("/org/freedesktop/systemd1/job/9") + be32(7) +
                      nul("a.scope") + be32(4) + nul("done");
  std::string sfields = std::string("\x01") + "\x01" + nul("o") + be32(25) +
                        nul("/org/freedesktop/systemd1") + zeros(6) +  // to 16+40 = 56
                        "\x03" + "\x01" + nul("s") + be32(10) + nul("JobRemoved") +    // to 75
                        zeros(5) + "\x08" + "\x01" + nul("g") + "\x04" + nul("uoss");  // to 90
  std::string sig = std::string("B\x04\x00\x01", 4) + be32(static_cast<uint32_t>(sbody.size())) +
                    be32(77) + be32(static_cast<uint32_t>(sfields.size())) + sfields + zeros(6) +
                    sbody;
  auto s = dbus::decode(sig, &used);
  REQUIRE(s);
  CHECK(used == sig.size());
  CHECK(s->bigEndian);
  CHECK(s->type == dbus::Type::kSignal);
  CHECK(s->serial == 77);
  CHECK(s->member == "JobRemoved");
  dbus::Reader sr = s->reader();
  CHECK(sr.u32() == 9);
  CHECK(sr.string() == "/org/freedesktop/systemd1/job/9");
  CHECK(sr.string() == "a.scope");
  CHECK(sr.string() == "done");
  CHECK(sr.atEnd());
}

TEST_CASE("malformed messages throw; unknown header fields are skipped", "[systemd][dbus]") {
  size_t used;
  dbus::Message m = dbus::methodCall("d", "/p", "i.f", "M", "", "");
  m.serial = 1;
  std::string ok = dbus::encode(m);
  std::string badOrder = ok;
  badOrder[0] = 'x';
  CHECK_THROWS_AS(dbus::decode(badOrder, &used), SysError);
  std::string badVersion = ok;
  badVersion[3] = 2;
  CHECK_THROWS_AS(dbus::decode(badVersion, &used), SysError);
  std::string noNul = ok;
  noNul[16 + 4 + 4 + 2] = 'X';  // the NUL after PATH "/p"
  CHECK_THROWS_AS(dbus::decode(noNul, &used), SysError);
  std::string huge = ok.substr(0, 12) + le32(100u << 20) + ok.substr(16);
  CHECK_THROWS_AS(dbus::decode(huge, &used), SysError);

  // A field code we do not know, holding a variant of a nested type, is skipped.
  dbus::Writer w;
  w.byte('l'), w.byte(4), w.byte(0), w.byte(1), w.u32(0), w.u32(9);
  auto fields = w.beginArray(8);
  w.beginStruct(), w.byte(200), w.signature("a{sv}");
  auto dict = w.beginArray(8);
  w.beginStruct(), w.string("k"), w.variant(std::vector<std::string>{"v"});
  w.endArray(dict);
  w.beginStruct(), w.byte(3), w.signature("s"), w.string("Ping");
  w.endArray(fields);
  w.align(8);
  auto d = dbus::decode(w.data(), &used);
  REQUIRE(d);
  CHECK(d->member == "Ping");
  CHECK(d->type == dbus::Type::kSignal);
}

TEST_CASE("damaged messages are refused or read, never read out of bounds", "[systemd][dbus]") {
  auto u = sd::parseCgroupsPath("system.slice:docker:abc", "id");
  dbus::Message m = sd::startTransientUnitCall(u.name, sd::unitProperties(u, 77, true));
  m.serial = 5;
  const std::string wire = dbus::encode(m);
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245 + 12345, seed >> 8; };
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bad = wire;
    for (int k = 1 + rnd() % 3; k > 0; --k) bad[rnd() % bad.size()] = static_cast<char>(rnd());
    try {
      size_t used;
      if (auto d = dbus::decode(bad, &used)) {
        dbus::Reader r = d->reader();
        r.skip("s"), r.skip("s"), r.skip("a(sv)"), r.skip("a(sa(sv))");
      }
    } catch (const SysError& e) {
      CHECK(e.err() == EBADMSG);
      ++refused;
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("EXTERNAL sends the uid as hex-encoded decimal", "[systemd][dbus]") {
  CHECK(dbus::authExternalLine(0) == "AUTH EXTERNAL 30");
  CHECK(dbus::authExternalLine(1000) == "AUTH EXTERNAL 31303030");
}

// --- the client against a fake systemd ---

namespace {

dbus::Message reply(const dbus::Message& to, std::string signature, std::string body) {
  dbus::Message r;
  r.type = dbus::Type::kMethodReturn;
  r.replySerial = to.serial;
  r.destination = to.sender;  // a bus routes replies by it; empty on a direct connection
  r.signature = std::move(signature);
  r.body = std::move(body);
  return r;
}

dbus::Message errorReply(const dbus::Message& to, std::string name, std::string_view text) {
  dbus::Message r = reply(to, "s", "");
  r.type = dbus::Type::kError;
  r.errorName = std::move(name);
  dbus::Writer w;
  w.string(text);
  r.body = w.take();
  return r;
}

dbus::Message jobRemoved(uint32_t id, const std::string& job, const std::string& unit,
                         const std::string& result) {
  dbus::Message s;
  s.type = dbus::Type::kSignal;
  s.path = "/org/freedesktop/systemd1";
  s.interface = "org.freedesktop.systemd1.Manager";
  s.member = "JobRemoved";
  s.signature = "uoss";
  dbus::Writer w;
  w.u32(id);
  w.string(job);
  w.string(unit);
  w.string(result);
  s.body = w.take();
  return s;
}

std::string oneString(std::string_view s) {
  dbus::Writer w;
  w.string(s);
  return w.take();
}

// Speaks the D-Bus subset systemd's manager needs on a socket in a temp dir, on a thread:
// EXTERNAL auth, StartTransientUnit (a job and its JobRemoved, or UnitExists), StopUnit,
// ResetFailedUnit, and for a bus Hello and AddMatch. Either the server end of the socket
// (systemd's private socket) or a peer on a real dbus-daemon owning org.freedesktop.systemd1.
class FakeSystemd {
 public:
  // Behaviour, set before start().
  std::set<std::string> units;  // units that exist
  bool resetRemoves = true;     // ResetFailedUnit drops a (failed) unit that exists
  std::string jobResult = "done";
  bool finishJobs = true;  // send JobRemoved at all
  bool removedBeforeReply = false;
  bool spoofFirst = false;  // a unicast "done" for the job before the real result
  bool rejectAuth = false;

  // What happened, read after join().
  std::string authBytes;
  std::vector<std::string> calls;  // member names, in order
  std::map<std::string, std::string> lastProps;
  std::string lastUnit;
  std::string serverError;

  FakeSystemd() : path_(dir_.path + "/private") {}
  ~FakeSystemd() {
    // On a bus no EOF comes from the client: a failed test must not hang here.
    if (onBus_) hangUp();
    join();
  }
  const std::string& path() const { return path_; }

  // Listens on path() and serves one connection.
  void start() {
    UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(l.get(), 4) == 0);
    thread_ = std::thread([this, l = std::move(l)]() mutable {
      try {
        struct pollfd p = {l.get(), POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) throw std::runtime_error("no client");
        fd_ = UniqueFd(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
        serverAuth();
        serve();
      } catch (const std::exception& e) {
        serverError = e.what();
      }
    });
  }

  // Joins the bus at busPath as the owner of org.freedesktop.systemd1 and serves from there.
  void startOnBus(const std::string& busPath) {
    onBus_ = true;
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", busPath.c_str());
    REQUIRE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    writeAll(std::string(1, '\0') + dbus::authExternalLine(::geteuid()) + "\r\nBEGIN\r\n");
    readLine();
    sendMessage(dbus::methodCall("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "Hello", "", ""));
    dbus::Writer w;
    w.string("org.freedesktop.systemd1");
    w.u32(4);  // DBUS_NAME_FLAG_DO_NOT_QUEUE
    sendMessage(dbus::methodCall("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "RequestName", "su", w.take()));
    // Wait for RequestName's reply (serial 2) so the name is ours before a client calls.
    for (;;) {
      dbus::Message m = next();
      if (m.replySerial == 2) {
        REQUIRE(m.type == dbus::Type::kMethodReturn);
        REQUIRE(m.reader().u32() == 1);  // PRIMARY_OWNER
        break;
      }
    }
    thread_ = std::thread([this] {
      try {
        serve();
      } catch (const std::exception& e) {
        serverError = e.what();
      }
    });
  }

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // For the bus: the fake has no EOF from the client; closing our end ends serve().
  void hangUp() {
    if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
  }

 private:
  void writeAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("eof");
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  bool fill() {
    char buf[4096];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) return false;
    rx_.append(buf, static_cast<size_t>(n));
    return true;
  }
  std::string readLine() {
    size_t eol;
    while ((eol = rx_.find("\r\n")) == std::string::npos)
      if (!fill()) throw std::runtime_error("fake: EOF in auth");
    std::string line = rx_.substr(0, eol);
    rx_.erase(0, eol + 2);
    return line;
  }
  void serverAuth() {
    std::string first = readLine();
    authBytes = first + "\r\n";
    if (rejectAuth) {
      writeAll("REJECTED EXTERNAL\r\n");
      return;
    }
    writeAll("OK 0123456789abcdef0123456789abcdef\r\n");
    authBytes += readLine() + "\r\n";  // BEGIN
  }
  void sendMessage(dbus::Message m) {
    m.serial = ++serial_;
    writeAll(dbus::encode(m));
  }
  dbus::Message next() {
    for (;;) {
      size_t used;
      if (auto m = dbus::decode(rx_, &used)) {
        rx_.erase(0, used);
        return *m;
      }
      if (!fill()) throw std::runtime_error("eof");
    }
  }
  // Until the client hangs up (its last reads may leave some of our signals unsent).
  void serve() {
    try {
      for (;;) {
        dbus::Message m = next();
        if (m.type != dbus::Type::kMethodCall) continue;
        calls.push_back(m.member);
        handle(m);
      }
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()) != "eof") throw;
    }
  }
  void handle(const dbus::Message& m) {
    dbus::Reader r = m.reader();
    if (m.member == "Hello") return sendMessage(reply(m, "s", oneString(":1.7")));
    if (m.member == "AddMatch") return sendMessage(reply(m, "", ""));
    if (m.member == "ResetFailedUnit") {
      std::string unit = r.string();
      if (!units.count(unit))
        return sendMessage(errorReply(m, "org.freedesktop.systemd1.NoSuchUnit", "no unit"));
      if (resetRemoves) units.erase(unit);
      return sendMessage(reply(m, "", ""));
    }
    if (m.member == "StartTransientUnit") {
      lastUnit = r.string();
      if (r.string() != "replace") throw std::runtime_error("job mode is not replace");
      lastProps = readProperties(r);
      r.skip("a(sa(sv))");
      if (units.count(lastUnit))
        return sendMessage(errorReply(m, "org.freedesktop.systemd1.UnitExists",
                                      "Unit " + lastUnit + " already exists."));
      units.insert(lastUnit);
      return runJob(m, lastUnit);
    }
    if (m.member == "StopUnit") {
      std::string unit = r.string();
      if (!units.count(unit))
        return sendMessage(
            errorReply(m, "org.freedesktop.systemd1.NoSuchUnit", "Unit " + unit + " not loaded."));
      units.erase(unit);
      return runJob(m, unit);
    }
    sendMessage(errorReply(m, "org.freedesktop.DBus.Error.UnknownMethod", m.member));
  }
  void runJob(const dbus::Message& call, const std::string& unit) {
    uint32_t id = ++jobs_;
    std::string job = "/org/freedesktop/systemd1/job/" + std::to_string(id);
    dbus::Message noise = jobRemoved(id + 1000, job + "0", "other.service", "failed");
    if (removedBeforeReply && finishJobs) sendMessage(jobRemoved(id, job, unit, jobResult));
    sendMessage(reply(call, "o", oneString(job)));
    // Signals the client must pass over: another job, another member, a spoof.
    sendMessage(noise);
    dbus::Message other = noise;
    other.member = "UnitNew";
    other.signature = "so";
    dbus::Writer w;
    w.string(unit);
    w.string("/org/freedesktop/systemd1/unit/x");
    other.body = w.take();
    sendMessage(other);
    if (spoofFirst) {
      dbus::Message spoof = jobRemoved(id, job, unit, "done");
      spoof.destination = ":1.7";
      sendMessage(spoof);
    }
    if (finishJobs && !removedBeforeReply) sendMessage(jobRemoved(id, job, unit, jobResult));
  }

  TempDir dir_;
  std::string path_;
  UniqueFd fd_;
  std::string rx_;
  uint32_t serial_ = 0;
  uint32_t jobs_ = 0;
  std::thread thread_;
  bool onBus_ = false;
};

constexpr sd::Timeouts kShort{2000ms, 2000ms};

sd::Client clientOf(FakeSystemd& f, sd::Timeouts t = kShort) {
  return sd::Client(dbus::Connection(f.path(), false, t.reply), t);
}

}  // namespace

TEST_CASE("startUnit over a socket: auth, the call, the job's JobRemoved", "[systemd][fake]") {
  FakeSystemd f;
  f.start();
  auto u = sd::parseCgroupsPath("system.slice:docker:abc", "id");
  {
    sd::Client c = clientOf(f);
    c.startUnit(u.name, sd::unitProperties(u, 1234, true));
  }
  f.join();
  CHECK(f.serverError.empty());
  CHECK(f.authBytes ==
        std::string(1, '\0') + dbus::authExternalLine(::geteuid()) + "\r\nBEGIN\r\n");
  CHECK(f.calls == std::vector<std::string>{"StartTransientUnit"});  // no Hello, no AddMatch
  CHECK(f.lastUnit == "docker-abc.scope");
  CHECK(f.lastProps["PIDs"] == "au=1234");
  CHECK(f.lastProps["Slice"] == "s=system.slice");
  CHECK(f.lastProps["Delegate"] == "b=true");
  CHECK(f.lastProps["Description"] == "s=libcontainer container abc");
}

TEST_CASE("startUnit: a JobRemoved that comes before the reply is not missed", "[systemd][fake]") {
  FakeSystemd f;
  f.removedBeforeReply = true;
  f.start();
  {
    sd::Client c = clientOf(f);
    CHECK_NOTHROW(c.startUnit("p-a.scope", {}));
  }
  f.join();
  CHECK(f.serverError.empty());
}

TEST_CASE("startUnit: an existing unit is reset and tried once more", "[systemd][fake]") {
  SECTION("a leftover failed unit goes away on reset") {
    FakeSystemd f;
    f.units = {"p-a.scope"};
    f.start();
    {
      sd::Client c = clientOf(f);
      CHECK_NOTHROW(c.startUnit("p-a.scope", {}));
    }
    f.join();
    CHECK(f.calls ==
          std::vector<std::string>{"StartTransientUnit", "ResetFailedUnit", "StartTransientUnit"});
  }
  SECTION("a live unit stays: a clear error") {
    FakeSystemd f;
    f.units = {"p-a.scope"};
    f.resetRemoves = false;
    f.start();
    {
      sd::Client c = clientOf(f);
      CHECK_THROWS_WITH(
          c.startUnit("p-a.scope", {}),
          Catch::Contains("\"p-a.scope\" already exists") && Catch::Contains("same cgroupsPath"));
    }
    f.join();
    CHECK(f.calls ==
          std::vector<std::string>{"StartTransientUnit", "ResetFailedUnit", "StartTransientUnit"});
  }
  SECTION("a slice that exists is joined") {
    FakeSystemd f;
    f.units = {"kube-a.slice"};
    f.start();
    {
      sd::Client c = clientOf(f);
      CHECK_NOTHROW(c.startUnit("kube-a.slice", {}));
    }
    f.join();
    CHECK(f.calls == std::vector<std::string>{"StartTransientUnit"});
  }
}

TEST_CASE("startUnit: a failed job, or none within the timeout, is an error and reset",
          "[systemd][fake]") {
  SECTION("failed") {
    FakeSystemd f;
    f.jobResult = "failed";
    f.start();
    {
      sd::Client c = clientOf(f);
      CHECK_THROWS_WITH(
          c.startUnit("p-a.scope", {}),
          Catch::Contains("could not create unit \"p-a.scope\"") && Catch::Contains("\"failed\""));
    }
    f.join();
    CHECK(f.calls == std::vector<std::string>{"StartTransientUnit", "ResetFailedUnit"});
  }
  SECTION("timeout") {
    FakeSystemd f;
    f.finishJobs = false;
    f.start();
    auto t0 = std::chrono::steady_clock::now();
    {
      sd::Client c = clientOf(f, {2000ms, 200ms});
      CHECK_THROWS_WITH(c.startUnit("p-a.scope", {}),
                        Catch::Contains("timed out after 0.2 s waiting for systemd to create"));
    }
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
    f.join();
    CHECK(f.calls == std::vector<std::string>{"StartTransientUnit", "ResetFailedUnit"});
  }
  SECTION("a signal addressed to us is not systemd's broadcast") {
    FakeSystemd f;
    f.spoofFirst = true;
    f.jobResult = "failed";
    f.start();
    {
      sd::Client c = clientOf(f);
      CHECK_THROWS_WITH(c.startUnit("p-a.scope", {}), Catch::Contains("\"failed\""));
    }
    f.join();
  }
}

TEST_CASE("startUnit: systemd's other refusals are passed on", "[systemd][fake]") {
  FakeSystemd f;
  f.start();
  {
    sd::Client c = clientOf(f);
    c.startUnit("p-a.scope", {});
    CHECK_THROWS_WITH(c.resetFailed("nope.scope"),
                      Catch::Contains("org.freedesktop.systemd1.NoSuchUnit"));
  }
  f.join();
}

TEST_CASE("stopUnit: waits for the job and resets; a missing unit is fine", "[systemd][fake]") {
  FakeSystemd f;
  f.units = {"p-a.scope"};
  f.start();
  {
    sd::Client c = clientOf(f);
    CHECK(c.stopUnit("p-a.scope") == "done");
    CHECK(c.stopUnit("p-a.scope") == "");
  }
  f.join();
  CHECK(f.serverError.empty());
  CHECK(f.calls == std::vector<std::string>{"StopUnit", "ResetFailedUnit", "StopUnit"});
}

TEST_CASE("connect: a refused authentication and a missing socket are clear errors",
          "[systemd][fake]") {
  FakeSystemd f;
  f.rejectAuth = true;
  f.start();
  CHECK_THROWS_WITH(dbus::Connection(f.path(), false, 2000ms),
                    Catch::Contains("authentication") && Catch::Contains("REJECTED EXTERNAL"));
  f.join();
  TempDir t;
  CHECK_THROWS_WITH(dbus::Connection(t.path + "/none", false, 2000ms),
                    Catch::Contains(t.path + "/none"));
}

TEST_CASE("through a real dbus-daemon: Hello, AddMatch, the call routed, JobRemoved routed",
          "[systemd][bus]") {
  // Never skipped: scripts/deps.sh installs dbus-daemon.
  REQUIRE(::access("/usr/bin/dbus-daemon", X_OK) == 0);
  TempDir t;
  std::string bus = t.path + "/bus";
  std::ofstream(t.path + "/bus.conf")
      << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
         "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
         "<busconfig><type>custom</type><listen>unix:path="
      << bus
      << "</listen><auth>EXTERNAL</auth><policy context=\"default\">"
         "<allow send_destination=\"*\"/><allow receive_sender=\"*\"/><allow own=\"*\"/>"
         "</policy></busconfig>\n";
  pid_t daemon = ::fork();
  REQUIRE(daemon >= 0);
  if (daemon == 0) {
    std::string conf = "--config-file=" + t.path + "/bus.conf";
    int null = ::open("/dev/null", O_WRONLY);  // its complaint about the fd limit is noise
    ::dup2(null, 2);
    ::execl("/usr/bin/dbus-daemon", "dbus-daemon", conf.c_str(), "--nofork", "--nopidfile",
            nullptr);
    ::_exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{daemon};
  // The socket exists from bind(); the daemon answers once it listens.
  auto listening = [&] {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", bus.c_str());
    return ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  };
  for (int i = 0; i < 500 && !listening(); ++i) ::usleep(10000);
  REQUIRE(listening());

  // A call to a name nobody owns: the daemon parsed and validated our message to say so.
  {
    dbus::Connection c(bus, true, 2000ms);
    auto u = sd::parseCgroupsPath("system.slice:docker:abc", "id");
    CHECK_THROWS_WITH(c.call(sd::startTransientUnitCall(u.name, sd::unitProperties(u, 1, true)),
                             dbus::Clock::now() + 2s),
                      Catch::Contains("org.freedesktop.DBus.Error.ServiceUnknown"));
  }

  FakeSystemd f;
  f.startOnBus(bus);
  {
    sd::Timeouts timeouts{2000ms, 2000ms};
    sd::Client c(dbus::Connection(bus, true, timeouts.reply), timeouts);
    auto u = sd::parseCgroupsPath(":p:a", "id");
    c.startUnit(u.name, sd::unitProperties(u, 99, false));
    CHECK(c.stopUnit(u.name) == "done");
  }
  f.hangUp();
  f.join();
  CHECK(f.serverError.empty());
  CHECK(f.lastProps["PIDs"] == "au=99");
  CHECK(f.lastProps["BlockIOAccounting"] == "b=true");
  CHECK(f.calls == std::vector<std::string>{"StartTransientUnit", "StopUnit", "ResetFailedUnit"});
}
