// Writing one cgroup knob relative to a cgroup directory fd, with errors that name it.
#pragma once

#include <string>
#include <string_view>

namespace sv::cg {

// Writes value to dirfd/name; a missing file is an error saying the controller or knob is
// not available on this host (asked for by `what`).
void writeKnob(int dirfd, const char* name, std::string_view value, std::string_view what);
bool hasKnob(int dirfd, const char* name);

}  // namespace sv::cg
