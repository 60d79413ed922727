#include "nsutil/cgroup/knob.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::cg {

bool hasKnob(int dirfd, const char* name) { return ::faccessat(dirfd, name, F_OK, 0) == 0; }

void writeKnob(int dirfd, const char* name, std::string_view value, std::string_view what) {
  int fd = ::openat(dirfd, name, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      throw UserError(fmt::format("{} needs the cgroup file {}, which this host does not have",
                                  what, name));
    throwSysError(errno, "open", fmt::format("cgroup file {} (for {})", name, what));
  }
  UniqueFd owned(fd);
  if (::write(fd, value.data(), value.size()) < 0)
    throwSysError(errno, "write", fmt::format("'{}' to cgroup file {} (for {})", value, name, what));
}

}  // namespace sv::cg
