#include "personalities/runc/commands.h"

#include <unistd.h>

#include "base/file_util.h"

namespace sv::runc {

namespace {
int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "state");
  writeAll(STDOUT_FILENO, containerStateJson(g, f.positionals[0]), "stdout");
  return 0;
}
}  // namespace

const Command kStateCommand{"state", "<container-id>", "output the state of a container", {}, run};

}  // namespace sv::runc
