// The runc role: global flags, the command table, usage and error reporting like runc's.
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "base/log.h"
#include "base/sealed_exe.h"
#include "base/sys_error.h"
#include "oci/spec.h"
#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {

constexpr FlagSpec kGlobalFlags[] = {
    {"debug", "", FlagKind::kBool, "enable debug logging"},
    {"log", "", FlagKind::kString, "set the log file to write runtime logs to (default is '/dev/stderr')"},
    {"log-format", "", FlagKind::kString, "set the log format ('text' (default), or 'json')", "text"},
    {"root", "", FlagKind::kString, "root directory for storage of container state (this should be located in tmpfs)", "/run/sysvisor-runc"},
    {"criu", "", FlagKind::kString, "path to the criu binary used for checkpoint and restore (unsupported)"},
    {"systemd-cgroup", "", FlagKind::kBool, "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\""},
    {"rootless", "", FlagKind::kString, "ignore cgroup permission errors ('true', 'false', or 'auto')", "auto"},
    {"no-mgr", "", FlagKind::kBool, "system containers without sysvisor-mgr: one fixed id range (231072-296607) shared by all (tests, debugging)"},
    {"mgr-socket", "", FlagKind::kString, "sysvisor-mgr's socket (default $SYSVISOR_MGR_SOCKET, else /run/sysvisor/mgr.sock)"},
    {"no-fs", "", FlagKind::kBool, "system containers without sysvisor-fs: no emulated /proc and /sys files (also $SYSVISOR_NO_FS=1; tests, debugging)"},
    {"fs-socket", "", FlagKind::kString, "sysvisor-fs's socket (default $SYSVISOR_FS_SOCKET, else /run/sysvisor/fs.sock)"},
    {"oci-only", "", FlagKind::kBool, "run bundles as plain OCI containers, exactly as config.json says (no system-container transform)"},
    {"help", "h", FlagKind::kBool, "show help"},
    {"version", "v", FlagKind::kBool, "print the version"},
};

constexpr const Command* kCommands[] = {
    &kCreateCommand, &kDeleteCommand, &kEventsCommand, &kExecCommand,   &kFeaturesCommand, &kKillCommand,  &kListCommand,  &kPauseCommand,
    &kPsCommand,     &kResumeCommand, &kRunCommand,    &kSpecCommand,  &kStartCommand,
    &kStateCommand,  &kUpdateCommand,
};

const Command* findCommand(std::string_view name) {
  for (const Command* c : kCommands)
    if (c->name == name) return c;
  return nullptr;
}

std::string version() {
  return fmt::format("sysvisor-runc version {}\nspec: 1.2.0\n", SV_VERSION);
}

std::string usage() {
  std::string out =
      "NAME:\n   sysvisor-runc - Open Container Initiative runtime for system containers\n\n"
      "USAGE:\n   sysvisor-runc [global options] command [command options] [arguments...]\n\n"
      "VERSION:\n   " SV_VERSION "\n\nCOMMANDS:\n";
  for (const Command* c : kCommands) out += fmt::format("   {:<10} {}\n", c->name, c->summary);
  out += "\nGLOBAL OPTIONS:\n" + flagsHelp(kGlobalFlags);
  return out;
}

std::string commandUsage(const Command& c) {
  std::string out = fmt::format("NAME:\n   sysvisor-runc {} - {}\n\nUSAGE:\n   sysvisor-runc {} "
                                "[command options] {}\n",
                                c.name, c.summary, c.name, c.argsUsage);
  if (!c.flags.empty()) out += "\nOPTIONS:\n" + flagsHelp(c.flags) + flagsHelp(c.moreFlags);
  return out;
}

void print(int fd, const std::string& s) {
  [[maybe_unused]] auto n = ::write(fd, s.data(), s.size());
}

// The same command again, from a read-only view of the binary. The role is picked by argv[0]'s
// name, which is not ours when we run as `sysvisor runc …`.
void reexecReadOnly(int argc, char** argv) {
  std::string_view self = argv[0];
  static char role[] = "sysvisor-runc";
  std::vector<char*> again(argv, argv + argc + 1);
  if (self != role && !self.ends_with("/sysvisor-runc")) again[0] = role;
  reexecFromReadOnlyExe(again.data());
}

}  // namespace

const std::string& requireArg(const ParsedFlags& f, size_t i, std::string_view command,
                              std::string_view what) {
  if (f.positionals.size() <= i)
    throw UserError(fmt::format("\"{}\" requires {}", command, what));
  return f.positionals[i];
}

void expectArgs(const ParsedFlags& f, size_t n, std::string_view command) {
  if (f.positionals.size() != n)
    throw UserError(fmt::format("\"{}\" requires exactly {} argument(s)", command, n));
}

int runcMain(int argc, char** argv) {
  std::span<char* const> args(argv + 1, static_cast<size_t>(argc - 1));
  GlobalOptions g;
  try {
    ParsedFlags global = parseFlags(kGlobalFlags, args, true);
    g.root = global.str("root", g.root);
    g.log = global.str("log");
    g.logFormat = global.str("log-format", "text");
    g.debug = global.flag("debug");
    g.systemdCgroup = global.flag("systemd-cgroup");
    g.noMgr = global.flag("no-mgr");
    // The environment is how containerd's and Podman's users can point every runtime call at
    // another mgr (Docker users may use runtimeArgs as well); the flag wins.
    if (const char* env = ::getenv("SYSVISOR_MGR_SOCKET"); env && *env) g.mgrSocket = env;
    g.mgrSocket = global.str("mgr-socket", g.mgrSocket);
    if (const char* env = ::getenv("SYSVISOR_FS_SOCKET"); env && *env) g.fsSocket = env;
    g.fsSocket = global.str("fs-socket", g.fsSocket);
    // The environment again for callers that cannot pass flags (dockerd and containerd pass it
    // down); the flag wins either way.
    if (const char* env = ::getenv("SYSVISOR_NO_FS"); env && *env)
      g.noFs = std::string_view(env) == "1" || std::string_view(env) == "true";
    if (global.has("no-fs")) g.noFs = global.flag("no-fs");
    g.ociOnly = global.flag("oci-only");
    if (g.logFormat != "text" && g.logFormat != "json")
      throw UserError(fmt::format("unknown log-format \"{}\": use text or json", g.logFormat));
    log::init(g.log, g.logFormat == "json" ? log::Format::kJson : log::Format::kText,
              g.debug ? log::Level::kDebug : log::Level::kWarn);
    if (global.flag("version")) {
      print(STDOUT_FILENO, version());
      return 0;
    }
    if (global.positionals.empty() || global.flag("help")) {
      print(STDOUT_FILENO, usage());
      return global.positionals.empty() && !global.flag("help") ? 0 : 0;
    }
    // Everything after the command name belongs to the command.
    size_t consumed = args.size() - global.positionals.size();
    std::string_view name = global.positionals[0];
    if (name == "help") {
      const Command* c = global.positionals.size() > 1 ? findCommand(global.positionals[1]) : nullptr;
      print(STDOUT_FILENO, c ? commandUsage(*c) : usage());
      return 0;
    }
    const Command* cmd = findCommand(name);
    if (!cmd) throw UserError(fmt::format("No help topic for '{}'", name));
    auto rest = args.subspan(consumed + 1);
    for (char* a : rest) {
      std::string_view s = a;
      if (s == "--" || (cmd->stopAtPositional && !s.starts_with('-'))) break;
      if (s == "--help" || s == "-h" || s == "-help") {
        print(STDOUT_FILENO, commandUsage(*cmd));
        return 0;
      }
    }
    std::vector<FlagSpec> flags(cmd->flags.begin(), cmd->flags.end());
    flags.insert(flags.end(), cmd->moreFlags.begin(), cmd->moreFlags.end());
    ParsedFlags f = parseFlags(flags, rest, cmd->stopAtPositional);
    log::debug("command {} {}", name, fmt::join(f.positionals, " "));
    // Without a user namespace (--oci-only), a command that clones into a container first
    // re-executes itself from a read-only view of its binary (base/sealed_exe.h).
    if (g.ociOnly && (name == "create" || name == "run" || name == "exec")) reexecReadOnly(argc, argv);
    return cmd->run(g, f);
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    // Like runc: with --log, the log gets the structured line and stderr the plain message.
    if (!log::toStderr()) print(STDERR_FILENO, std::string(e.what()) + "\n");
    return 1;
  }
}

}  // namespace sv::runc
