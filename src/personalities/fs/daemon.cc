// The daemon's life: the single-instance lock, the registrations read back, the FUSE session
// (a fresh mount, or the live connection of a killed predecessor taken over from the fd
// holder), the RPC socket and a clean exit on SIGTERM.
//
// Why an fd holder: a FUSE connection dies when the last fd of its /dev/fuse file closes.
// At mount, the daemon hands a copy of that fd to a tiny process of its own (`sysvisor fs
// --hold-fuse-fd`, in its own session). The daemon itself reads requests only through
// clones (FUSE_DEV_IOC_CLONE, one per worker), so if it is killed, the requests it had taken
// fail with ECONNABORTED, new ones wait in the kernel's queue, and the next daemon takes the
// held fd (pidfd_getfd), clones it and serves on: every bind mount in every running
// container, nested mount namespaces and open files included, works again without a remount.
#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>
#include <cstring>
#include <kj/async-unix.h>
#include <set>
#include <thread>

#include "base/daemon_util.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "fusefs/fuse_fs.h"
#include "fusefs/reattach.h"
#include "ipc/rpc.h"
#include "personalities/fs/fs.h"
#include "personalities/fs/service.h"

extern char** environ;

namespace sv::fsd {

namespace {

constexpr const char* kHolderName = "sysvisor-fs-fd";  // the holder's comm
constexpr int kHeldFd = 3;

// The fstype of the mount at path ("" when none is there).
std::string mountTypeAt(const std::string& path) {
  std::string info = readFile("/proc/self/mountinfo");
  std::string type;
  size_t pos = 0;
  while (pos < info.size()) {
    size_t nl = info.find('\n', pos);
    if (nl == std::string::npos) nl = info.size();
    std::string_view line(info.data() + pos, nl - pos);
    pos = nl + 1;
    // "id parent maj:min root mountpoint opts ... - type source super"
    size_t f = 0;
    std::string_view rest = line;
    std::string_view field;
    for (int i = 0; i < 5; ++i) {
      size_t sp = rest.find(' ');
      field = rest.substr(0, sp);
      rest.remove_prefix(sp == std::string_view::npos ? rest.size() : sp + 1);
      ++f;
    }
    if (field != path) continue;
    size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::string_view t = line.substr(dash + 3);
    type = std::string(t.substr(0, t.find(' ')));  // the last mount on path wins
  }
  return type;
}

struct Holder {
  pid_t pid = 0;
  UniqueFd fd;  // a copy of the held /dev/fuse fd
};

// The holder of a predecessor's connection, if one is alive and the mount is still there.
std::optional<Holder> findHolder(const std::string& pidFile, const std::string& mountpoint) {
  auto text = readFileIfExists(pidFile);
  if (!text) return std::nullopt;
  pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  if (pid <= 0) return std::nullopt;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return std::nullopt;
  auto comm = readFileIfExists(fmt::format("/proc/{}/comm", pid));
  if (!comm || comm->rfind(kHolderName, 0) != 0) return std::nullopt;
  if (mountTypeAt(mountpoint) != "fuse.sysvisorfs") {
    log::warn("fd holder {} runs but nothing is mounted at {}: stopping it", pid, mountpoint);
    ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    return std::nullopt;
  }
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), kHeldFd, 0)));
  if (!fd) {
    // (EPERM: a seccomp profile or LSM that denies pidfd_getfd.) The connection it holds has
    // no reader left and would block every access to the mount: it goes with the holder, and
    // the containers get a fresh mount (reattached like after a holder's death).
    log::warn("cannot take the FUSE fd from holder {}: {}; stopping it, containers are "
              "reattached to a new mount",
              pid, std::strerror(errno));
    ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
    struct pollfd p = {pidfd.get(), POLLIN, 0};
    ::poll(&p, 1, 5000);
    return std::nullopt;
  }
  return Holder{pid, std::move(fd)};
}

pid_t spawnHolder(int fuseFd, const std::string& pidFile) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fuseFd, kHeldFd);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  // Its own session: a terminal's ^C or a killed process group leaves it alive.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  char* argv[] = {const_cast<char*>("sysvisor"), const_cast<char*>("fs"),
                  const_cast<char*>("--hold-fuse-fd"), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throwSysError(rc, "posix_spawn", "the FUSE fd holder");
  UniqueFd dir(SV_SYSCALL(::open(pidFile.substr(0, pidFile.rfind('/')).c_str(),
                                 O_RDONLY | O_DIRECTORY | O_CLOEXEC), "'{}'", pidFile));
  writeFileAtomic(dir.get(), pidFile.substr(pidFile.rfind('/') + 1), fmt::format("{}\n", pid),
                  0600);
  return pid;
}

// Makes a new libfuse session serve an already initialised connection: libfuse answers
// nothing before it saw FUSE_INIT, so it is handed the INIT the kernel sent our predecessor.
// Its reply goes to a request id the kernel does not know (ENOENT, which libfuse ignores).
void replayInit(fuse_session* se) {
  struct {
    fuse_in_header h;
    fuse_init_in i;
  } msg{};
  msg.h.len = sizeof msg;
  msg.h.opcode = FUSE_INIT;
  msg.h.unique = ~uint64_t{0} - 1;
  msg.i.major = FUSE_KERNEL_VERSION;
  msg.i.minor = FUSE_KERNEL_MINOR_VERSION;
  msg.i.max_readahead = 128 * 1024;
  // FUSE_MAX_PAGES sizes libfuse's buffers as in the first INIT (the kernel refuses smaller reads).
  msg.i.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | FUSE_MAX_PAGES;
  fuse_buf buf{};
  buf.size = sizeof msg;
  buf.mem = &msg;
  fuse_session_process_buf(se, &buf);
}

struct Session {
  fuse_session* se = nullptr;
  pid_t holder = 0;
  bool recovered = false;
};

Session openSession(const FsOptions& o, fs::FuseFs& fs, const std::string& holderPidFile) {
  Session s;
  std::string name = "sysvisor-fs";
  std::string opts = "allow_other,default_permissions,fsname=sysvisorfs,subtype=sysvisorfs";
  std::vector<char*> argv = {name.data()};
  std::string dashO = "-o";
  std::optional<Holder> held = findHolder(holderPidFile, o.mountpoint);
  if (!held) {
    argv.push_back(dashO.data());
    argv.push_back(opts.data());
  }
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  s.se = fuse_session_new(&args, &fs::FuseFs::ops(), sizeof(fuse_lowlevel_ops), &fs);
  if (!s.se) throw UserError("cannot create the FUSE session (see the log)");
  if (held) {
    // Our own clone of the held connection: what we read can never strand in the holder.
    UniqueFd clone(SV_SYSCALL(::open("/dev/fuse", O_RDWR | O_CLOEXEC), "'/dev/fuse'"));
    uint32_t master = static_cast<uint32_t>(held->fd.get());
    SV_SYSCALL(::ioctl(clone.get(), FUSE_DEV_IOC_CLONE, &master), "FUSE_DEV_IOC_CLONE");
    std::string dev = fmt::format("/dev/fd/{}", clone.get());
    if (fuse_session_mount(s.se, dev.c_str()) != 0)
      throw UserError("cannot attach to the held FUSE connection");
    (void)clone.release();  // the session owns it now
    replayInit(s.se);
    s.holder = held->pid;
    s.recovered = true;
    log::info("took over the live FUSE connection at {} from fd holder {}", o.mountpoint,
              held->pid);
    return s;
  }
  // A dead mount left by a predecessor without holder: out of the way first. Told from
  // mountinfo, never by touching the mount (a connection nobody serves blocks every access).
  if (mountTypeAt(o.mountpoint) == "fuse.sysvisorfs") ::umount2(o.mountpoint.c_str(), MNT_DETACH);
  daemon::makeDir(o.mountpoint, 0700);
  if (fuse_session_mount(s.se, o.mountpoint.c_str()) != 0)
    throw UserError(fmt::format("cannot mount the FUSE file system at '{}' (is /dev/fuse there? "
                                "`modprobe fuse`)",
                                o.mountpoint));
  s.holder = spawnHolder(fuse_session_fd(s.se), holderPidFile);
  return s;
}

// The connection died with its holder (both were killed): running containers hold binds of
// the dead mount. Each gets binds of the new one in their place.
void reattachAll(const FsOptions& o, const fs::ContainerTable& table) {
  for (const auto& [id, c] : *table.snapshot()) {
    try {
      fs::ReattachResult r =
          fs::reattach("/proc/self/exe", c->data().initPid, o.mountpoint + "/" + id, bindPaths());
      if (r.replaced)
        log::info("container {}: {} emulated files attached again (the old FUSE connection "
                  "was gone)",
                  id, r.replaced);
    } catch (const std::exception& e) {
      log::warn("container {}: cannot attach its emulated files again: {}", id, e.what());
    }
  }
}

kj::Promise<void> sampleEvery(kj::Timer& timer, fs::FuseFs& fs) {
  return timer.afterDelay(5 * kj::SECONDS).then([&timer, &fs]() {
    try {
      fs.sampleLoads();
    } catch (const std::exception& e) {
      log::error("load sampling: {}", e.what());
    }
    return sampleEvery(timer, fs);
  });
}

}  // namespace

int holdFuseFd() {
  // Nothing but the held fd: no stdio, no other inheritance.
  ::close_range(kHeldFd + 1, ~0U, 0);
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  if (null > 2) ::close(null);
  ::prctl(PR_SET_NAME, kHolderName);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  for (;;) ::pause();
}

int runDaemon(const FsOptions& o) {
  // Every container keeps a few files open (cgroup files re-read with pread): the soft fd
  // limit goes up to the hard one.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  daemon::makeDir(o.runDir, 0755);
  std::string dir = o.runDir + "/fs";
  daemon::makeDir(dir, 0700);
  UniqueFd lock = daemon::lockSingleInstance(dir + "/fs.pid", "sysvisor-fs");
  Store store(dir + "/containers");
  fs::CgroupMounts mounts = fs::CgroupMounts::fromMountinfo(readFile("/proc/self/mountinfo"));
  fs::ContainerTable table;
  std::set<std::string, std::less<>> ids;
  for (auto& [data, sysctls] : store.load()) {
    // A zombie init is gone too: its container was killed (e.g. `delete --force` while this
    // daemon was down) and only its reaper has not run yet, or never will where pid 1 reaps
    // nothing.
    auto st = readProcStat(data.initPid);
    if (st && st->state == 'Z') {
      log::info("container {}: its init {} has exited, registration dropped", data.id,
                data.initPid);
      store.remove(data.id);
      continue;
    }
    auto c = std::make_shared<fs::Container>(std::move(data), mounts);
    c->setSysctls(std::move(sysctls));
    ids.insert(c->data().id);
    table.put(std::move(c));
  }
  fs::NodeTable nodes(dir + "/nodes.log");
  nodes.retain(ids);
  fs::FuseFs fs(table, nodes, "/proc/self/exe", [&store](const fs::Container& c) {
    try {
      store.save(c);
    } catch (const std::exception& e) {
      log::error("saving container {}: {}", c.data().id, e.what());
    }
  });

  // Signals are blocked before any thread exists, so every thread inherits the mask.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  std::string holderPid = dir + "/holder.pid";
  Session s = openSession(o, fs, holderPid);
  fs.setSession(s.se);
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, o.maxThreads);
  // Idle workers stay: a RELEASE overlapping the next OPEN would otherwise start a worker
  // (thread, /dev/fuse clone) and retire one on nearly every file read.
  fuse_loop_cfg_set_idle_threads(cfg, o.maxThreads);
  std::thread loop([&s, cfg] {
    int rc = fuse_session_loop_mt(s.se, cfg);
    if (rc != 0) log::error("the FUSE loop ended: {}", rc);
  });
  loop.detach();
  if (!s.recovered) reattachAll(o, table);

  auto io = kj::setupAsyncIo();
  auto serving =
      ipc::serveUnix(io, o.socket,
                     kj::heap<FsService>(fs, store, mounts, o.mountpoint))
          .eagerlyEvaluate(
              [](kj::Exception&& e) { log::error("socket: {}", e.getDescription().cStr()); });
  log::info("sysvisor-fs {} ready: {} at {}, socket {}, {} containers", SV_VERSION,
            s.recovered ? "serving again" : "mounted", o.mountpoint, o.socket, ids.size());
  daemon::notifyReady();
  auto sampler = sampleEvery(io.provider->getTimer(), fs).eagerlyEvaluate(
      [](kj::Exception&& e) { log::error("sampler: {}", e.getDescription().cStr()); });
  auto term = io.unixEventPort.onSignal(SIGTERM);
  auto intr = io.unixEventPort.onSignal(SIGINT);
  siginfo_t si = term.exclusiveJoin(kj::mv(intr)).wait(io.waitScope);
  ::unlink(o.socket.c_str());
  if (table.snapshot()->empty()) {
    // Nothing uses the mount: take it down with its holder.
    ::umount2(o.mountpoint.c_str(), MNT_DETACH);
    ::kill(s.holder, SIGKILL);
    ::unlink(holderPid.c_str());
    log::info("signal {}: unmounted {}, stopped", si.si_signo, o.mountpoint);
  } else {
    // Running containers keep their files: the holder keeps the connection for the next start.
    log::info("signal {}: stopping; {} containers stay mounted through fd holder {} until the "
              "next start",
              si.si_signo, table.snapshot()->size(), s.holder);
  }
  // The FUSE workers sit in read(); there is nothing of theirs to wait for.
  ::_exit(0);
}

}  // namespace sv::fsd
