#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kRunFlags[] = {
    {"detach", "d", FlagKind::kBool, "detach from the container's process"},
    {"keep", "", FlagKind::kBool, "do not delete the container after it exits"},
    {"no-subreaper", "", FlagKind::kBool, "disable the use of the subreaper used to reap reparented processes"},
};

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "run");
  return runContainer(g, createOptionsFrom(f), f.flag("detach"), f.flag("keep"));
}
}  // namespace

const Command kRunCommand{"run", "<container-id>", "create and run a container", kCreateFlags, run,
                          false, kRunFlags};

}  // namespace sv::runc
