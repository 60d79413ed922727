// The daemon's life: single-instance lock, subid entries, the persisted table, the socket,
// and a clean exit on SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>
#include <cstring>
#include <kj/async-unix.h>

#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "ipc/rpc.h"
#include "personalities/mgr/mgr.h"
#include "personalities/mgr/service.h"
#include "personalities/mgr/subid.h"

namespace sv::mgr {

namespace {

void makeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    throwSysError(errno, "mkdir", fmt::format("'{}'", path));
}

// One daemon per host: the lock is held as long as the process lives, so a killed daemon
// never blocks its successor.
UniqueFd lockSingleInstance(const std::string& runDir) {
  std::string path = runDir + "/mgr.pid";
  UniqueFd fd(SV_SYSCALL(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644),
                         "'{}'", path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throwSysError(errno, "flock", fmt::format("'{}'", path));
    std::string pid = readFileIfExists(path).value_or("?");
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw UserError(fmt::format("sysvisor-mgr is already running (pid {}, lock '{}'); stop it "
                                "first or use another --run-dir",
                                pid, path));
  }
  SV_SYSCALL(::ftruncate(fd.get(), 0), "'{}'", path);
  writeAll(fd.get(), fmt::format("{}\n", ::getpid()), path);
  return fd;
}

// Makes sure /etc/subuid (or subgid) holds our pool; returns its first id.
uint32_t ensureSubid(const std::string& path, const std::string& loginDefs, bool gid,
                     uint64_t size) {
  std::string text = readFileIfExists(path).value_or("");
  SubidLimits limits = parseLoginDefs(readFileIfExists(loginDefs).value_or(""), gid);
  EnsureResult r = ensureEntry(text, "sysvisor", size, limits, path);
  if (r.changed) {
    struct stat st;
    mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    UniqueFd dfd(SV_SYSCALL(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "'{}'", dir));
    // Other tools (useradd, podman) edit these files too: write the whole file atomically.
    writeFileAtomic(dfd.get(), name, r.text, mode, true);
    log::info("added sysvisor:{}:{} to {}", r.start, r.count, path);
  }
  if (r.start + r.count > (uint64_t{1} << 32))
    throw UserError(fmt::format("the sysvisor entry in {} ends beyond id 4294967295", path));
  if (r.count < size)
    throw UserError(fmt::format("the sysvisor entry in {} holds {} ids, fewer than {}", path,
                                r.count, size));
  return static_cast<uint32_t>(r.start);
}

void loadTable(IdAllocator& alloc, const std::string& dataRoot) {
  std::string path = dataRoot + "/" + Table::kFileName;
  std::optional<std::string> text;
  try {
    text = readFileIfExists(path);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("cannot read the id table: {}", e.what()));
  }
  if (!text) return;
  try {
    alloc.load(*text);
  } catch (const std::exception& e) {
    throw UserError(fmt::format(
        "the id table '{}' cannot be trusted ({}); sysvisor-mgr will not hand out ranges from "
        "it. Stop all system containers, move the file away and start sysvisor-mgr again",
        path, e.what()));
  }
}

// systemd Type=notify: tell the service manager the socket is ready.
void notifyReady() {
  const char* sock = ::getenv("NOTIFY_SOCKET");
  if (!sock || !*sock) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(sock);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, sock, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  const char msg[] = "READY=1";
  ::sendto(fd.get(), msg, sizeof(msg) - 1, 0, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

// Stopped containers whose rootfs was removed while nobody asked are freed once a minute.
kj::Promise<void> reapEvery(kj::Timer& timer, Table& table) {
  return timer.afterDelay(60 * kj::SECONDS).then([&timer, &table]() {
    try {
      table.reap();
    } catch (const std::exception& e) {
      log::error("reaping the id table: {}", e.what());
    }
    return reapEvery(timer, table);
  });
}

}  // namespace

int runDaemon(const MgrOptions& o) {
  makeDir(o.runDir, 0755);
  UniqueFd lock = lockSingleInstance(o.runDir);
  makeDir(o.dataRoot, 0700);
  // O_PATH fds cannot be fsynced: the table's directory needs a real one.
  UniqueFd dataDir(SV_SYSCALL(::open(o.dataRoot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                              "'{}'", o.dataRoot));

  uint32_t uidStart = ensureSubid(o.subuid, o.loginDefs, false, o.poolSize);
  uint32_t gidStart = ensureSubid(o.subgid, o.loginDefs, true, o.poolSize);
  IdAllocator alloc(uidStart, gidStart, o.poolSize, o.policy);
  loadTable(alloc, o.dataRoot);
  Table table(alloc, {uidStart, gidStart, o.poolSize}, dataDir.get(), o.policy == SubidPolicy::kReuse ? "reuse" : "no-reuse");
  table.reap();
  table.save(true);

  // Signals are captured before the loop exists, so none is lost between start and wait.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  auto io = kj::setupAsyncIo();
  auto serving = ipc::serveUnix(io, o.socket, kj::heap<MgrService>(table))
                     .eagerlyEvaluate([](kj::Exception&& e) {
                       log::error("socket: {}", e.getDescription().cStr());
                     });
  log::info("sysvisor-mgr {} ready: socket {}, pool uid {}+{} gid {}+{}, {} containers known, "
            "policy {}",
            SV_VERSION, o.socket, uidStart, o.poolSize, gidStart, o.poolSize,
            alloc.list().size(), table.policyName());
  notifyReady();
  auto reaper = reapEvery(io.provider->getTimer(), table).eagerlyEvaluate(
      [](kj::Exception&& e) { log::error("reaper: {}", e.getDescription().cStr()); });
  auto term = io.unixEventPort.onSignal(SIGTERM);
  auto intr = io.unixEventPort.onSignal(SIGINT);
  siginfo_t si = term.exclusiveJoin(kj::mv(intr)).wait(io.waitScope);
  log::info("signal {}: stopping", si.si_signo);
  ::unlink(o.socket.c_str());
  table.save(true);
  return 0;
}

}  // namespace sv::mgr
