#include "nsutil/cgroup/freezer.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/file_util.h"
#include "base/sys_error.h"

namespace sv::cg {

namespace {
void requireFreezer(const Freezer& f) {
  if (f.dir.empty())
    throw UserError("this host has no freezer cgroup: pause and resume are not available");
}
}  // namespace

bool isFrozen(const Freezer& f) {
  if (f.dir.empty()) return false;
  if (f.v2) {
    auto events = readFileIfExists(f.dir + "/cgroup.events");
    return events && events->find("frozen 1") != std::string::npos;
  }
  auto state = readFileIfExists(f.dir + "/freezer.state");
  return state && state->starts_with("FROZEN");
}

void freeze(const Freezer& f) {
  requireFreezer(f);
  writeFileAt(AT_FDCWD, f.dir + (f.v2 ? "/cgroup.freeze" : "/freezer.state"), f.v2 ? "1" : "FROZEN");
  // v1 reports FREEZING until every task stopped; v2 sets "frozen 1" in cgroup.events.
  for (int i = 0; i < 2000; ++i) {
    if (isFrozen(f)) return;
    if (!f.v2) writeFileAt(AT_FDCWD, f.dir + "/freezer.state", "FROZEN");
    ::usleep(500);
  }
  thaw(f);
  throw UserError(fmt::format("the processes in '{}' did not freeze within 1s", f.dir));
}

void thaw(const Freezer& f) {
  requireFreezer(f);
  writeFileAt(AT_FDCWD, f.dir + (f.v2 ? "/cgroup.freeze" : "/freezer.state"), f.v2 ? "0" : "THAWED");
}

}  // namespace sv::cg
