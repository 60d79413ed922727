#include "personalities/runc/commands.h"

#include <signal.h>

#include <optional>

#include <fmt/format.h>

#include "base/sys_error.h"
#include "personalities/runc/signals.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"all", "a", FlagKind::kBool, "send the specified signal to all processes inside the container"},
};

int run(const GlobalOptions& g, const ParsedFlags& f) {
  if (f.positionals.empty() || f.positionals.size() > 2) expectArgs(f, 1, "kill");
  int sig = SIGTERM;
  if (f.positionals.size() == 2) {
    // "0" checks that the container's init exists, as with kill(1).
    auto parsed = f.positionals[1] == "0" ? std::optional<int>(0) : parseSignal(f.positionals[1]);
    if (!parsed) throw UserError(fmt::format("unknown signal \"{}\"", f.positionals[1]));
    sig = *parsed;
  }
  killContainer(g, f.positionals[0], sig, f.flag("all"));
  return 0;
}
}  // namespace

const Command kKillCommand{"kill", "<container-id> [signal]",
                           "kill sends the specified signal (default: SIGTERM) to the container's "
                           "init process; a systemd init gets SIGTERM as SIGRTMIN+3 (its halt)",
                           kFlags, run};

}  // namespace sv::runc
