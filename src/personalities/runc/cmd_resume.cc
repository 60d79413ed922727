#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "resume");
  resumeContainer(g, f.positionals[0]);
  return 0;
}
}  // namespace

const Command kResumeCommand{"resume", "<container-id>",
                             "resumes all processes that have been previously paused", {}, run};

}  // namespace sv::runc
