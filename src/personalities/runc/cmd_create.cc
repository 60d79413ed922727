#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"bundle", "b", FlagKind::kString, "path to the root of the bundle directory", "current directory"},
    {"console-socket", "", FlagKind::kString, "path to an AF_UNIX socket which will receive the pty master"},
    {"pid-file", "", FlagKind::kString, "specify the file to write the process id to"},
    {"no-pivot", "", FlagKind::kBool, "do not use pivot root to jail process inside rootfs"},
    {"no-new-keyring", "", FlagKind::kBool, "do not create a new session keyring for the container"},
    {"preserve-fds", "", FlagKind::kInt, "pass N additional file descriptors to the container", "0"},
};

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "create");
  CreateOptions o;
  o.id = f.positionals[0];
  o.bundle = f.str("bundle");
  o.pidFile = f.str("pid-file");
  o.consoleSocket = f.str("console-socket");
  o.noPivot = f.flag("no-pivot");
  o.preserveFds = f.integer("preserve-fds");
  createContainer(g, o);
  return 0;
}
}  // namespace

const Command kCreateCommand{"create", "<container-id>", "create a container", kFlags, run};

}  // namespace sv::runc
