// The daemon's life: single-instance lock, subid entries, the persisted table, the socket,
// and a clean exit on SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <capnp/rpc-twoparty.h>
#include <cstring>
#include <kj/async-unix.h>

#include "base/daemon_util.h"
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

// One of /etc/subuid, /etc/subgid: its text, its limits from login.defs, and our entry.
struct SubidFile {
  std::string path;
  std::string text;
  SubidLimits limits;
  EnsureResult entry;
};

void writeSubid(const SubidFile& f) {
  if (!f.entry.changed) return;
  struct stat st;
  mode_t mode = ::stat(f.path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  size_t slash = f.path.rfind('/');
  std::string dir = slash == std::string::npos ? std::string(".") : f.path.substr(0, slash + 1);
  std::string name = slash == std::string::npos ? f.path : f.path.substr(slash + 1);
  UniqueFd dfd(SV_SYSCALL(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "'{}'", dir));
  // Other tools (useradd, podman) edit these files too: write the whole file atomically.
  writeFileAtomic(dfd.get(), name, f.entry.text, mode, true);
  log::info("added sysvisor:{}:{} to {}", f.entry.start, f.entry.count, f.path);
}

// Makes sure /etc/subuid and /etc/subgid hold our pool, at the same start in both, so every
// container's uid base equals its gid base (what id-mapping validation and the overlay upper
// dir's shifting rely on); returns that start.
uint32_t ensureSubids(const MgrOptions& o) {
  std::string defs = readFileIfExists(o.loginDefs).value_or("");
  SubidFile u{o.subuid, readFileIfExists(o.subuid).value_or(""), parseLoginDefs(defs, false), {}};
  SubidFile g{o.subgid, readFileIfExists(o.subgid).value_or(""), parseLoginDefs(defs, true), {}};
  // Each file's hole search starts where the other's ended, until both agree (the starts
  // only grow, so this ends, at the latest when a file has no hole left and throws).
  uint64_t from = std::max(u.limits.min, g.limits.min);
  for (int round = 0; round < 64; ++round) {
    SubidLimits lu = u.limits, lg = g.limits;
    lu.min = lg.min = from;
    u.entry = ensureEntry(u.text, "sysvisor", o.poolSize, lu, u.path);
    g.entry = ensureEntry(g.text, "sysvisor", o.poolSize, lg, g.path);
    if (u.entry.start == g.entry.start) break;
    if (!u.entry.changed && !g.entry.changed)
      throw UserError(fmt::format(
          "the sysvisor entries of {} ({}) and {} ({}) start at different ids; make them equal "
          "(remove both lines to let sysvisor-mgr place them) and start it again",
          u.path, u.entry.start, g.path, g.entry.start));
    from = std::max(u.entry.start, g.entry.start);
  }
  if (u.entry.start != g.entry.start)
    throw UserError(fmt::format("no common free range of {} ids in {} and {}", o.poolSize,
                                u.path, g.path));
  for (const SubidFile* f : {&u, &g}) {
    if (f->entry.count < o.poolSize)
      throw UserError(fmt::format("the sysvisor entry in {} holds {} ids, fewer than {}",
                                  f->path, f->entry.count, o.poolSize));
    writeSubid(*f);
  }
  return static_cast<uint32_t>(u.entry.start);
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

// The parents of the containers' inner-engine stores (Docker's, containerd's). An inner engine
// puts its overlay layers there, and overlayfs stacks on neither tmpfs (in a user namespace)
// nor overlayfs.
std::vector<std::string> prepareStoreRoots(const std::string& dataRoot) {
  struct statfs fs;
  SV_SYSCALL(::statfs(dataRoot.c_str(), &fs), "'{}'", dataRoot);
  if (fs.f_type == TMPFS_MAGIC || fs.f_type == OVERLAYFS_SUPER_MAGIC)
    throw UserError(fmt::format(
        "the data root '{}' is on {}: the containers' Docker stores there would not work "
        "(overlayfs cannot stack on it); use --data-root on a disk file system such as ext4 "
        "or xfs",
        dataRoot, fs.f_type == TMPFS_MAGIC ? "tmpfs" : "overlayfs"));
  std::vector<std::string> roots;
  for (const char* engine : {"docker", "containerd"}) {
    roots.push_back(dataRoot + "/" + engine);
    daemon::makeDir(roots.back(), 0711);
  }
  return roots;
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
  daemon::makeDir(o.runDir, 0755);
  UniqueFd lock = daemon::lockSingleInstance(o.runDir + "/mgr.pid", "sysvisor-mgr");
  daemon::makeDir(o.dataRoot, 0700);
  // O_PATH fds cannot be fsynced: the table's directory needs a real one.
  UniqueFd dataDir(SV_SYSCALL(::open(o.dataRoot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                              "'{}'", o.dataRoot));

  uint32_t start = ensureSubids(o);  // the same in /etc/subuid and /etc/subgid
  IdAllocator alloc(start, start, o.poolSize, o.policy);
  loadTable(alloc, o.dataRoot);
  Table table(alloc, dataDir.get(), prepareStoreRoots(o.dataRoot));
  table.reap();
  table.removeStoresOfGone();
  try {
    table.save(true);
  } catch (const std::system_error& e) {
    if (e.code().value() != ENOSPC && e.code().value() != EDQUOT) throw;
    // A full data root: the table on disk is the one just loaded (ranges reaped now are only
    // freed on disk later, never handed out twice), so the running containers are served;
    // every new range is refused, plainly, until there is space again.
    log::warn("data root '{}' is full ({}): no container gets a new id range until space is "
              "freed there",
              o.dataRoot, e.what());
  }

  // Signals are captured before the loop exists, so none is lost between start and wait.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  auto io = kj::setupAsyncIo();
  auto serving = ipc::serveUnix(io, o.socket, kj::heap<MgrService>(table))
                     .eagerlyEvaluate([](kj::Exception&& e) {
                       log::error("socket: {}", e.getDescription().cStr());
                     });
  log::info("sysvisor-mgr {} ready: socket {}, pool of ids {}+{} (uids and gids), {} containers "
            "known, policy {}",
            SV_VERSION, o.socket, start, o.poolSize, alloc.list().size(), table.policyName());
  daemon::notifyReady();
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
