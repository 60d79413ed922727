#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "start");
  startContainer(g, f.positionals[0]);
  return 0;
}
}  // namespace

const Command kStartCommand{"start", "<container-id>",
                            "executes the user defined process in a created container", {}, run};

}  // namespace sv::runc
