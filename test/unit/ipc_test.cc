// Cap'n Proto round trips between the runtime's MgrClient and sysvisor-mgr's service, and
// between its FsClient and a small test-only Fs server, over a real Unix socket: the service
// runs in a forked child (its own KJ loop, as in the daemon), the client in this process. Also
// the errors a caller sees: no daemon, a refused request, a daemon that never answers. No
// privileges needed.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capnp/message.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <map>

#include "base/file_util.h"
#include "base/unique_fd.h"
#include "ipc/fs.capnp.h"
#include "ipc/fs_client.h"
#include "ipc/mgr_client.h"
#include "ipc/rpc.h"
#include "personalities/mgr/id_alloc.h"
#include "personalities/mgr/service.h"
#include "test_util.h"

using sv::ipc::DaemonDown;
using sv::ipc::FsClient;
using sv::ipc::MgrClient;
using sv::ipc::RemoteError;
using sv::mgr::IdAllocator;
using sv::mgr::SubidPolicy;
using sv::test::TempDir;

namespace {

constexpr uint32_t kStart = 1000000;

// True once something accepts connections on the socket at path (the file appears at bind(),
// before listen(): waiting for the file alone races with the server).
bool listening(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  for (int i = 0; i < 1000; ++i, ::usleep(2000)) {
    sv::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
  }
  return false;
}

// The real service in a child process, serving until killed.
class ServiceProcess {
 public:
  ServiceProcess(const std::string& dir, uint64_t poolSize, SubidPolicy policy)
      : socket(dir + "/mgr.sock") {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      try {
        IdAllocator alloc(kStart, kStart, poolSize, policy);
        sv::UniqueFd data(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        sv::mgr::Table table(alloc, data.get());
        auto io = kj::setupAsyncIo();
        auto serving = sv::ipc::serveUnix(io, socket, kj::heap<sv::mgr::MgrService>(table));
        serving.wait(io.waitScope);
      } catch (...) {
      }
      ::_exit(1);
    }
    REQUIRE(listening(socket));
  }
  ~ServiceProcess() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  const std::string socket;

 private:
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("register, status and unregister round trip", "[ipc]") {
  TempDir dir;
  // mgr frees the range of a container whose rootfs is gone: these exist.
  for (const char* r : {"alpha", "beta"}) sv::test::writeFile(dir.file(r) + "/.keep", "");
  ServiceProcess svc(dir.path, 4 * 65536, SubidPolicy::kNoReuse);
  MgrClient client(svc.socket);
  auto a = client.registerContainer("alpha", dir.path + "/alpha");
  CHECK(a.range.uidBase == kStart);
  CHECK(a.range.gidBase == kStart);
  CHECK(a.range.size == 65536);
  CHECK(a.fresh);
  CHECK(a.warning.empty());
  auto b = client.registerContainer("beta", dir.path + "/beta");
  CHECK(b.range.uidBase == kStart + 65536);
  // The same id again: its range, not a new one.
  auto again = client.registerContainer("alpha", dir.path + "/alpha");
  CHECK(again.range.uidBase == kStart);
  CHECK_FALSE(again.fresh);

  sv::ipc::MgrStatus st = client.status();
  CHECK(st.pool.uidStart == kStart);
  CHECK(st.pool.size == 4 * 65536);
  CHECK(st.pool.policy == "no-reuse");
  CHECK(st.pool.blocks == 4);
  CHECK(st.pool.blocksInUse == 2);
  REQUIRE(st.containers.size() == 2);
  CHECK(st.containers[0].id == "alpha");
  CHECK(st.containers[0].running);
  CHECK(st.containers[0].rootfs == dir.path + "/alpha");
  CHECK(st.containers[1].id == "beta");

  CHECK(client.unregisterContainer("alpha", false));
  CHECK_FALSE(client.status().containers[0].running);
  CHECK(client.unregisterContainer("beta", true));
  CHECK(client.status().containers.size() == 1);
  CHECK_FALSE(client.unregisterContainer("nosuch", false));
  // Every change was saved where the daemon would reload it from.
  CHECK(sv::readFile(dir.file("ids.json")).find("\"alpha\"") != std::string::npos);
  // A stopped container whose rootfs is removed loses its range at the next request.
  std::filesystem::remove_all(dir.file("alpha"));
  CHECK(client.status().containers.empty());
}

TEST_CASE("refused requests come back as RemoteError text", "[ipc]") {
  TempDir dir;
  for (const char* r : {"only", "second"}) sv::test::writeFile(dir.file(r) + "/.keep", "");
  ServiceProcess svc(dir.path, 65536, SubidPolicy::kNoReuse);
  MgrClient client(svc.socket);
  client.registerContainer("only", dir.path + "/only");
  std::string full = sv::test::errorOf<RemoteError>(
      [&] { client.registerContainer("second", dir.path + "/second"); });
  CHECK_THAT(full, Catch::Contains("reuse"));
  std::string bad = sv::test::errorOf<RemoteError>(
      [&] { client.registerContainer("../x", dir.path + "/x"); });
  CHECK_THAT(bad, Catch::Contains("invalid container id"));
  std::string rel =
      sv::test::errorOf<RemoteError>([&] { client.registerContainer("rel", "rootfs"); });
  CHECK_THAT(rel, Catch::Contains("absolute"));
  // The connection survives refusals.
  CHECK(client.status().containers.size() == 1);
}

namespace {
// A daemon whose method fails: the exception travels back as an RPC Return.exception.
class Failing final : public sv::ipc::schema::Mgr::Server {
 protected:
  kj::Promise<void> status(StatusContext) override {
    KJ_FAIL_REQUIRE("the table is on fire");
  }
};
}  // namespace

TEST_CASE("a daemon's exception is a RemoteError with its reason", "[ipc]") {
  TempDir dir;
  std::string path = dir.file("failing.sock");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      auto io = kj::setupAsyncIo();
      sv::ipc::serveUnix(io, path, kj::heap<Failing>()).wait(io.waitScope);
    } catch (...) {
    }
    ::_exit(1);
  }
  REQUIRE(listening(path));
  MgrClient client(path);
  std::string msg = sv::test::errorOf<RemoteError>([&] { client.status(); });
  CHECK_THAT(msg, Catch::Contains("the table is on fire"));
  // Methods it does not implement are refused the same way, and the connection goes on.
  std::string unimpl =
      sv::test::errorOf<RemoteError>([&] { client.unregisterContainer("x", false); });
  CHECK_THAT(unimpl, Catch::Contains("not implemented"));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

namespace {
// A socket that accepts connections (the kernel's backlog) but whose owner never speaks RPC.
sv::UniqueFd listenOn(const std::string& path) {
  sv::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 4) == 0);
  return listener;
}
}  // namespace

TEST_CASE("no daemon: DaemonDown says how to start it", "[ipc]") {
  TempDir dir;
  std::string msg = sv::test::errorOf<DaemonDown>([&] { MgrClient c(dir.file("none.sock")); });
  CHECK_THAT(msg, Catch::Contains("sysvisor-mgr is not running"));
  CHECK_THAT(msg, Catch::Contains("systemctl start sysvisor-mgr"));
  CHECK_THAT(msg, Catch::Contains("none.sock"));
}

TEST_CASE("a daemon that never answers times out as DaemonDown", "[ipc]") {
  TempDir dir;
  std::string path = dir.file("mute.sock");
  sv::UniqueFd listener = listenOn(path);
  MgrClient client(path, std::chrono::milliseconds(200));
  std::string msg = sv::test::errorOf<DaemonDown>([&] { client.status(); });
  CHECK_THAT(msg, Catch::Contains("did not answer within 200 ms"));
}

TEST_CASE("a daemon that dies mid-call is DaemonDown, not a hang", "[ipc]") {
  TempDir dir;
  std::string path = dir.file("dies.sock");
  sv::UniqueFd listener = listenOn(path);
  MgrClient client(path, std::chrono::seconds(5));
  // Accept, then close: the peer vanishes before answering.
  sv::UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(conn);
  conn.reset();
  std::string msg = sv::test::errorOf<DaemonDown>([&] { client.status(); });
  CHECK_THAT(msg, Catch::Contains("sysvisor-mgr"));
}

namespace {

// sysvisor-fs's interface as the runtime sees it, with an in-memory table: register answers
// with the container's subtree and two binds, refuses a pid of 0, and keeps what it was told
// for status.
class FakeFs final : public sv::ipc::schema::Fs::Server {
 public:
  explicit FakeFs(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {}

 protected:
  kj::Promise<void> register_(RegisterContext context) override {
    auto data = context.getParams().getData();
    auto results = context.getResults();
    if (data.getInitPid() <= 0) {
      results.setError(kj::str("container ", data.getId(), ": no init pid"));
      return kj::READY_NOW;
    }
    table_[data.getId().cStr()] = capnp::clone(data);
    results.setRoot(kj::str(mountpoint_, "/", data.getId()));
    auto binds = results.initBinds(2);
    binds.set(0, "/proc/uptime");
    binds.set(1, "/proc/sys");
    return kj::READY_NOW;
  }
  kj::Promise<void> unregister(UnregisterContext context) override {
    context.getResults().setKnown(table_.erase(context.getParams().getId().cStr()) == 1);
    return kj::READY_NOW;
  }
  kj::Promise<void> status(StatusContext context) override {
    auto results = context.getResults();
    results.setMountpoint(mountpoint_);
    auto list = results.initContainers(static_cast<unsigned>(table_.size()));
    unsigned i = 0;
    for (auto& [id, data] : table_) list.setWithCaveats(i++, *data);
    return kj::READY_NOW;
  }

 private:
  std::string mountpoint_;
  std::map<std::string, kj::Own<sv::ipc::schema::ContainerData::Reader>> table_;
};

}  // namespace

TEST_CASE("sysvisor-fs: register, status and unregister round trip", "[ipc]") {
  TempDir dir;
  std::string path = dir.file("fs.sock");
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    try {
      auto io = kj::setupAsyncIo();
      sv::ipc::serveUnix(io, path, kj::heap<FakeFs>("/var/lib/sysvisorfs")).wait(io.waitScope);
    } catch (...) {
    }
    ::_exit(1);
  }
  REQUIRE(listening(path));
  FsClient client(path);
  sv::ipc::ContainerData data;
  data.id = "alpha";
  data.initPid = 4242;
  data.initStartTime = 123456789012ULL;
  data.range = {165536, 165537, 65536};
  data.created = 1700000000123456789LL;
  data.hostname = "alpha-host";
  data.cgroupPaths = {"4:memory:/sv/alpha", "0::/sv/alpha"};
  FsClient::Registered r = client.registerContainer(data);
  CHECK(r.root == "/var/lib/sysvisorfs/alpha");
  CHECK(r.binds == std::vector<std::string>{"/proc/uptime", "/proc/sys"});

  // Every field reaches the daemon as sent.
  sv::ipc::FsStatus st = client.status();
  CHECK(st.mountpoint == "/var/lib/sysvisorfs");
  REQUIRE(st.containers.size() == 1);
  const sv::ipc::ContainerData& got = st.containers[0];
  CHECK(got.id == "alpha");
  CHECK(got.initPid == 4242);
  CHECK(got.initStartTime == 123456789012ULL);
  CHECK(got.range.uidBase == 165536);
  CHECK(got.range.gidBase == 165537);
  CHECK(got.range.size == 65536);
  CHECK(got.created == 1700000000123456789LL);
  CHECK(got.hostname == "alpha-host");
  CHECK(got.cgroupPaths == data.cgroupPaths);

  // A refusal is the daemon's text; the connection goes on.
  data.id = "nopid";
  data.initPid = 0;
  std::string msg = sv::test::errorOf<RemoteError>([&] { client.registerContainer(data); });
  CHECK(msg == "container nopid: no init pid");

  CHECK(client.unregisterContainer("alpha"));
  CHECK_FALSE(client.unregisterContainer("alpha"));
  CHECK(client.status().containers.empty());
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST_CASE("sysvisor-fs down: DaemonDown says how to start it", "[ipc]") {
  TempDir dir;
  std::string msg = sv::test::errorOf<DaemonDown>([&] { FsClient c(dir.file("none.sock")); });
  CHECK_THAT(msg, Catch::StartsWith("sysvisor-fs is not running (start it with `systemctl start "
                                    "sysvisor-fs` or `sysvisor-fs &`; socket '"));
  CHECK_THAT(msg, Catch::Contains("none.sock"));
}
