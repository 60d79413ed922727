// `sysvisor-fs [flags]` (or `sysvisor fs --daemon`) runs the FUSE daemon; `sysvisor-fs status
// [--json]` prints the containers it serves.
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/daemon_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "ipc/blocking_rpc.h"
#include "ipc/fs.capnp.h"
#include "personalities/fs/fs.h"
#include "personalities/runc/flags.h"

namespace sv::fsd {

int holdFuseFd();

namespace {

using runc::FlagKind;
using runc::FlagSpec;

constexpr FlagSpec kFlags[] = {
    {"mountpoint", "", FlagKind::kString, "where the FUSE file system is mounted",
     "/var/lib/sysvisorfs"},
    {"socket", "", FlagKind::kString, "RPC socket", "/run/sysvisor/fs.sock"},
    {"run-dir", "", FlagKind::kString,
     "directory of the lock, the registrations and the fd holder (under fs/)", "/run/sysvisor"},
    {"log", "", FlagKind::kString, "log file ('' or /dev/stderr: standard error)",
     "/var/log/sysvisor-fs.log"},
    {"log-level", "", FlagKind::kString, "debug, info, warn or error", "info"},
    {"threads", "", FlagKind::kString, "most FUSE worker threads", "8"},
    {"daemon", "", FlagKind::kBool, "run the daemon (the default without a command)"},
    {"json", "", FlagKind::kBool, "status: print JSON"},
    {"uid-base", "", FlagKind::kString, "register: the container's first host uid (and gid)", "0"},
    {"hold-fuse-fd", "", FlagKind::kBool, "(internal) keep the FUSE connection of fd 3 alive"},
    {"help", "h", FlagKind::kBool, "show help"},
    {"version", "v", FlagKind::kBool, "print the version"},
};

void say(const std::string& text) { writeAll(STDOUT_FILENO, text, "standard output"); }

int usage() {
  say(fmt::format(
      "usage: sysvisor-fs [flags]          run the FUSE daemon (also: sysvisor fs --daemon)\n"
      "       sysvisor-fs status [--json]  print the containers it serves\n"
      "       sysvisor-fs register [--uid-base N] <id> <init pid>   what sysvisor-runc create "
      "asks\n       sysvisor-fs unregister <id>                        what delete tells\n\n"
      "sysvisor-fs emulates /proc/{{uptime,meminfo,cpuinfo,stat,loadavg,swaps,diskstats}}, "
      "/proc/sys\nand parts of /sys for every system container sysvisor-runc registers with "
      "it.\n\nflags:\n{}",
      runc::flagsHelp(kFlags)));
  return 0;
}

// The daemon's socket, with the hint a down daemon's error gives.
ipc::BlockingRpc connect(const std::string& socket) {
  return ipc::BlockingRpc(socket, "sysvisor-fs",
                          "start it with `systemctl start sysvisor-fs` or `sysvisor-fs &`",
                          std::chrono::seconds(10));
}

}  // namespace

int printStatus(const std::string& socket, bool json) {
  auto rpc = connect(socket);
  auto reply = rpc.call(capnp::typeId<ipc::schema::Fs>(), 2, [](capnp::AnyPointer::Builder p) {
    p.initAs<ipc::schema::Fs::StatusParams>();
  });
  auto r = reply.content.getAs<ipc::schema::Fs::StatusResults>();
  nlohmann::json j{{"mountpoint", r.getMountpoint().cStr()},
                   {"containers", nlohmann::json::array()}};
  std::string table = fmt::format("mountpoint: {}\n\n{:<24}  {:>8}  {:<12}  {}\n",
                                  r.getMountpoint().cStr(), "CONTAINER", "INIT", "ID BASE",
                                  "HOSTNAME");
  for (auto c : r.getContainers()) {
    j["containers"].push_back({{"id", c.getId().cStr()},
                               {"initPid", c.getInitPid()},
                               {"uidBase", c.getRange().getUidBase()},
                               {"hostname", c.getHostname().cStr()}});
    table += fmt::format("{:<24}  {:>8}  {:<12}  {}\n", c.getId().cStr(), c.getInitPid(),
                         c.getRange().getUidBase(), c.getHostname().cStr());
  }
  say(json ? j.dump(2) + "\n" : table);
  return 0;
}

namespace {

// The runtime's calls by hand (debugging, and tests of the daemon without a runtime).
int registerCommand(const std::string& socket, const std::string& id, const std::string& pid,
                    const std::string& uidBase) {
  auto rpc = connect(socket);
  auto reply = rpc.call(capnp::typeId<ipc::schema::Fs>(), 0, [&](capnp::AnyPointer::Builder p) {
    auto d = p.initAs<ipc::schema::Fs::RegisterParams>().initData();
    d.setId(id);
    d.setInitPid(std::atoi(pid.c_str()));
    auto base = static_cast<uint32_t>(std::stoul(uidBase));
    d.getRange().setUidBase(base);
    d.getRange().setGidBase(base);
    d.getRange().setSize(65536);
    d.setCreated(std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
  });
  auto r = reply.content.getAs<ipc::schema::Fs::RegisterResults>();
  if (r.getError().size() > 0) throw UserError(r.getError().cStr());
  std::string out = std::string(r.getRoot().cStr()) + "\n";
  for (auto b : r.getBinds()) out += std::string(b.cStr()) + "\n";
  say(out);
  return 0;
}

int unregisterCommand(const std::string& socket, const std::string& id) {
  auto rpc = connect(socket);
  auto reply = rpc.call(capnp::typeId<ipc::schema::Fs>(), 1, [&](capnp::AnyPointer::Builder p) {
    p.initAs<ipc::schema::Fs::UnregisterParams>().setId(id);
  });
  if (!reply.content.getAs<ipc::schema::Fs::UnregisterResults>().getKnown())
    throw UserError(fmt::format("sysvisor-fs serves no container \"{}\"", id));
  return 0;
}

}  // namespace

int fsMain(int argc, char** argv) {
  try {
    runc::ParsedFlags f =
        runc::parseFlags(kFlags, std::span<char* const>(argv + 1, argc - 1), false);
    if (f.flag("hold-fuse-fd")) return holdFuseFd();
    if (f.flag("help")) return usage();
    if (f.flag("version")) {
      say(fmt::format("sysvisor-fs version {}\n", SV_VERSION));
      return 0;
    }
    FsOptions o;
    o.mountpoint = f.str("mountpoint", o.mountpoint);
    o.socket = f.str("socket", o.socket);
    o.runDir = f.str("run-dir", o.runDir);
    o.log = f.str("log", o.log);
    o.logLevel = f.str("log-level", o.logLevel);
    std::string threads = f.str("threads", "8");
    o.maxThreads = static_cast<unsigned>(std::atoi(threads.c_str()));
    if (o.maxThreads < 1 || o.maxThreads > 256)
      throw UserError(fmt::format("--threads: \"{}\" is not a number from 1 to 256", threads));
    if (!f.positionals.empty()) {
      const auto& p = f.positionals;
      if (p.size() == 1 && p[0] == "status") return printStatus(o.socket, f.flag("json"));
      if (p.size() == 3 && p[0] == "register")
        return registerCommand(o.socket, p[1], p[2], f.str("uid-base", "0"));
      if (p.size() == 2 && p[0] == "unregister") return unregisterCommand(o.socket, p[1]);
      throw UserError(fmt::format("unknown command \"{}\" (see --help)", f.positionals[0]));
    }
    log::init(o.log, log::Format::kText, daemon::logLevelFrom(o.logLevel));
    return runDaemon(o);
  } catch (const std::exception& e) {
    dprintf(STDERR_FILENO, "sysvisor-fs: %s\n", e.what());
    if (!log::toStderr()) log::error("{}", e.what());
    return 1;
  }
}

}  // namespace sv::fsd
