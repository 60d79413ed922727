// linux.resources.unified: cgroup2 files written as given, into the container's cgroup2
// directory. parseResources already refused keys that could leave that directory ('/',
// "..").
#include <fmt/format.h>

#include <string>

#include "base/sys_error.h"
#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

void applyUnified(const Resources& r, int dirfd, bool /*v2: always*/) {
  for (const auto& [key, value] : r.unified) {
    if (!hasKnob(dirfd, key.c_str())) {
      auto dot = key.find('.');
      throw UserError(fmt::format(
          "linux.resources.unified: the cgroup2 file \"{}\" does not exist here{}", key,
          dot == std::string::npos || key.starts_with("cgroup.")
              ? ""
              : fmt::format(" (is the {} controller enabled in cgroup v2?)", key.substr(0, dot))));
    }
    writeKnob(dirfd, key.c_str(), value, fmt::format("linux.resources.unified.{}", key));
  }
}

}  // namespace sv::cg
