// `sysvisor-mgr [flags]` runs the daemon; `sysvisor-mgr status [--json]` prints its table.
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdio>

#include "base/daemon_util.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "ipc/fs_client.h"
#include "ipc/mgr_client.h"
#include "ipc/rpc.h"
#include "personalities/mgr/mgr.h"
#include "personalities/runc/flags.h"

namespace sv::mgr {

namespace {

using runc::FlagKind;
using runc::FlagSpec;

constexpr FlagSpec kFlags[] = {
    {"socket", "", FlagKind::kString, "RPC socket", "/run/sysvisor/mgr.sock"},
    {"run-dir", "", FlagKind::kString, "directory of the single-instance lock", "/run/sysvisor"},
    {"data-root", "", FlagKind::kString, "persistent data (the id table)", "/var/lib/sysvisor"},
    {"log", "", FlagKind::kString, "log file ('' or /dev/stderr: standard error)",
     "/var/log/sysvisor-mgr.log"},
    {"log-level", "", FlagKind::kString, "debug, info, warn or error", "info"},
    {"subid-policy", "", FlagKind::kString,
     "when all id blocks are in use: 'reuse' (share one, with a warning) or 'no-reuse' (refuse)",
     "reuse"},
    {"subid-range-size", "", FlagKind::kString,
     "ids in the sysvisor entry of /etc/subuid and /etc/subgid (a multiple of 65536)",
     "268435456"},
    {"subuid", "", FlagKind::kString, "the subuid file", "/etc/subuid"},
    {"subgid", "", FlagKind::kString, "the subgid file", "/etc/subgid"},
    {"login-defs", "", FlagKind::kString, "login.defs (SUB_UID_MIN ...)", "/etc/login.defs"},
    {"json", "", FlagKind::kBool, "status: print JSON"},
    {"fs-socket", "", FlagKind::kString, "status: sysvisor-fs's socket, for its health",
     "/run/sysvisor/fs.sock"},
    {"gone", "", FlagKind::kBool, "unregister: the container is gone for good, free its range"},
    {"help", "h", FlagKind::kBool, "show help"},
    {"version", "v", FlagKind::kBool, "print the version"},
};

int usage() {
  std::string text = fmt::format(
      "usage: sysvisor-mgr [flags]          run the manager daemon\n"
      "       sysvisor-mgr status [--json]  daemon health (mgr, fs) and the id ranges given out\n"
      "       sysvisor-mgr register <id> <rootfs>      what sysvisor-runc create asks (debugging)\n"
      "       sysvisor-mgr unregister [--gone] <id>    what delete tells; --gone frees the range\n\n"
      "sysvisor-mgr gives every system container an exclusive range of 65536 host ids from a\n"
      "sysvisor entry in /etc/subuid and /etc/subgid, keeps it across stop/start, and frees it\n"
      "when the container is gone.\n\nflags:\n{}",
      runc::flagsHelp(kFlags));
  writeAll(STDOUT_FILENO, text, "standard output");
  return 0;
}


MgrOptions optionsFrom(const runc::ParsedFlags& f) {
  MgrOptions o;
  o.socket = f.str("socket", o.socket);
  o.runDir = f.str("run-dir", o.runDir);
  o.dataRoot = f.str("data-root", o.dataRoot);
  o.log = f.str("log", o.log);
  o.logLevel = f.str("log-level", o.logLevel);
  auto policy = policyFromName(f.str("subid-policy", "reuse"));
  if (!policy)
    throw UserError(fmt::format("--subid-policy: \"{}\" is neither reuse nor no-reuse",
                                f.str("subid-policy")));
  o.policy = *policy;
  std::string size = f.str("subid-range-size", "268435456");
  uint64_t n = 0;
  try {
    size_t used = 0;
    n = std::stoull(size, &used);
    if (used != size.size()) n = 0;
  } catch (const std::exception&) {
  }
  if (n == 0 || n % kBlockSize != 0 || n > (uint64_t{1} << 32))
    throw UserError(fmt::format(
        "--subid-range-size: \"{}\" is not a positive multiple of 65536 of at most 4294967296",
        size));
  o.poolSize = n;
  o.subuid = f.str("subuid", o.subuid);
  o.subgid = f.str("subgid", o.subgid);
  o.loginDefs = f.str("login-defs", o.loginDefs);
  return o;
}

void say(const std::string& text) { writeAll(STDOUT_FILENO, text, "standard output"); }

// The client commands: they talk to the running daemon.
int command(const MgrOptions& o, const runc::ParsedFlags& f) {
  const auto& p = f.positionals;
  if (p[0] == "status" && p.size() == 1)
    return printStatus(o.socket, f.str("fs-socket", ipc::kFsSocket), f.flag("json"));
  if (p[0] == "register" && p.size() == 3) {
    auto r = ipc::MgrClient(o.socket).registerContainer(p[1], p[2]);
    if (!r.warning.empty()) say("warning: " + r.warning + "\n");
    say(fmt::format("{} {} {}{}\n", r.range.uidBase, r.range.gidBase, r.range.size,
                    r.fresh ? " new" : ""));
    return 0;
  }
  if (p[0] == "unregister" && p.size() == 2) {
    if (!ipc::MgrClient(o.socket).unregisterContainer(p[1], f.flag("gone")))
      throw UserError(fmt::format("sysvisor-mgr holds no range for container \"{}\"", p[1]));
    return 0;
  }
  throw UserError(fmt::format("unknown command or wrong arguments: \"{}\" (see --help)",
                              fmt::join(p, " ")));
}

}  // namespace

int mgrMain(int argc, char** argv) {
  try {
    runc::ParsedFlags f = runc::parseFlags(kFlags, std::span<char* const>(argv + 1, argc - 1), false);
    if (f.flag("help")) return usage();
    if (f.flag("version")) {
      std::string v = fmt::format("sysvisor-mgr version {}\n", SV_VERSION);
      writeAll(STDOUT_FILENO, v, "standard output");
      return 0;
    }
    MgrOptions o = optionsFrom(f);
    if (!f.positionals.empty()) return command(o, f);
    log::init(o.log, log::Format::kText, daemon::logLevelFrom(o.logLevel));
    return runDaemon(o);
  } catch (const std::exception& e) {
    dprintf(STDERR_FILENO, "sysvisor-mgr: %s\n", e.what());
    if (!log::toStderr()) log::error("{}", e.what());
    return 1;
  }
}

}  // namespace sv::mgr
