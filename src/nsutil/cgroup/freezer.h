// The freezer: pause and resume every process of a container (v1 freezer.state, v2
// cgroup.freeze).
#pragma once

#include <string>

namespace sv::cg {

struct Freezer {
  std::string dir;  // "" when the host has no freezer
  bool v2 = false;
};

void freeze(const Freezer& f);  // returns once the whole cgroup is frozen
void thaw(const Freezer& f);
bool isFrozen(const Freezer& f);

}  // namespace sv::cg
