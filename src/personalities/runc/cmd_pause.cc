#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "pause");
  pauseContainer(g, f.positionals[0]);
  return 0;
}
}  // namespace

const Command kPauseCommand{"pause", "<container-id>",
                            "pause suspends all processes inside the container", {}, run};

}  // namespace sv::runc
