#include <unistd.h>

#include <fmt/format.h>

#include "base/sys_error.h"
#include "personalities/runc/commands.h"
#include "personalities/runc/events.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"interval", "", FlagKind::kString, "set the stats collection interval", "5s"},
    {"stats", "", FlagKind::kBool, "display the container's stats then exit"},
};

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "events");
  EventsOptions o;
  o.id = f.positionals[0];
  o.statsOnly = f.flag("stats");
  std::string interval = f.str("interval", "5s");
  auto d = parseDuration(interval);
  if (!d)
    throw UserError(fmt::format(
        "invalid value \"{}\" for flag -interval: give a duration such as 5s or 500ms", interval));
  o.interval = *d;
  containerEvents(g, o, STDOUT_FILENO);
  return 0;
}
}  // namespace

const Command kEventsCommand{
    "events", "<container-id>",
    "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
    kFlags, run};

}  // namespace sv::runc
