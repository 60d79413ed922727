#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "create");
  createContainer(g, createOptionsFrom(f));
  return 0;
}
}  // namespace

CreateOptions createOptionsFrom(const ParsedFlags& f) {
  CreateOptions o;
  o.id = f.positionals.at(0);
  o.bundle = f.str("bundle");
  o.pidFile = f.str("pid-file");
  o.consoleSocket = f.str("console-socket");
  o.noPivot = f.flag("no-pivot");
  o.preserveFds = f.integer("preserve-fds");
  return o;
}

const Command kCreateCommand{"create", "<container-id>", "create a container", kCreateFlags, run};

}  // namespace sv::runc
