#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"force", "f", FlagKind::kBool, "Forcibly deletes the container if it is still running (uses SIGKILL)"},
};

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "delete");
  deleteContainer(g, f.positionals[0], f.flag("force"));
  return 0;
}
}  // namespace

const Command kDeleteCommand{"delete", "<container-id>",
                             "delete any resources held by the container often used with detached "
                             "container",
                             kFlags, run};

}  // namespace sv::runc
