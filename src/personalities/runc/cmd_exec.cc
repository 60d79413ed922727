#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"console-socket", "", FlagKind::kString, "path to an AF_UNIX socket which will receive the pty master"},
    {"cwd", "", FlagKind::kString, "current working directory in the container"},
    {"env", "e", FlagKind::kStringList, "set environment variables"},
    {"tty", "t", FlagKind::kBool, "allocate a pseudo-TTY"},
    {"user", "u", FlagKind::kString, "UID (format: <uid>[:<gid>])"},
    {"additional-gids", "g", FlagKind::kStringList, "additional gids"},
    {"process", "p", FlagKind::kString, "path to the process.json"},
    {"detach", "d", FlagKind::kBool, "detach from the container's process"},
    {"pid-file", "", FlagKind::kString, "specify the file to write the process id to"},
    {"process-label", "", FlagKind::kString, "set the asm process label for the process"},
    {"apparmor", "", FlagKind::kString, "set the apparmor profile for the process"},
    {"no-new-privs", "", FlagKind::kBool, "set the no new privileges value for the process"},
    {"cap", "c", FlagKind::kStringList, "add a capability to the bounding set for the process"},
    {"preserve-fds", "", FlagKind::kInt, "pass N additional file descriptors to the container", "0"},
    {"cgroup", "", FlagKind::kStringList, "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>."},
    {"ignore-paused", "", FlagKind::kBool, "allow exec in a paused container"},
};

int run(const GlobalOptions& g, const ParsedFlags& f) {
  if (f.positionals.empty()) expectArgs(f, 1, "exec");
  ExecOptions o;
  o.id = f.positionals[0];
  o.args.assign(f.positionals.begin() + 1, f.positionals.end());
  o.processFile = f.str("process");
  o.env = f.list("env");
  o.caps = f.list("cap");
  o.additionalGids = f.list("additional-gids");
  o.cwd = f.str("cwd");
  o.user = f.str("user");
  o.noNewPrivs = f.flag("no-new-privs");
  o.detach = f.flag("detach");
  o.tty = f.flag("tty");
  o.pidFile = f.str("pid-file");
  o.consoleSocket = f.str("console-socket");
  o.preserveFds = f.integer("preserve-fds");
  o.subCgroups = f.list("cgroup");
  o.ignorePaused = f.flag("ignore-paused");
  o.processLabel = f.str("process-label");
  o.apparmor = f.str("apparmor");
  return execProcess(g, o);
}
}  // namespace

// Flags stop at the container id: what follows is the command and its own options.
const Command kExecCommand{"exec", "<container-id> <command> [command options]",
                           "execute new process inside the container", kFlags, run, true};

}  // namespace sv::runc
