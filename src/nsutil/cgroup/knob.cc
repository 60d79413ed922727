#include "nsutil/cgroup/knob.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <charconv>
#include <limits>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::cg {

bool hasKnob(int dirfd, const char* name) {
  return ::faccessat(dirfd, name, F_OK, 0) == 0;
}

void writeKnob(int dirfd, const char* name, std::string_view value, std::string_view what) {
  // O_TRUNC as runc opens them: the kernel ignores it on cgroup files, and a fake tree of
  // regular files then holds exactly the last value written.
  int fd = ::openat(dirfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      throw UserError(
          fmt::format("{} needs the cgroup file {}, which this host does not have", what, name));
    throwSysError(errno, "open", fmt::format("cgroup file {} (for {})", name, what));
  }
  UniqueFd owned(fd);
  if (::write(fd, value.data(), value.size()) < 0)
    throwSysError(errno, "write",
                  fmt::format("'{}' to cgroup file {} (for {})", value, name, what));
}

std::optional<std::string> readKnob(int dirfd, const char* name) {
  auto fd =
      SV_SYSCALL_IF_EXISTS(::openat(dirfd, name, O_RDONLY | O_CLOEXEC), "cgroup file {}", name);
  if (!fd) return std::nullopt;
  UniqueFd owned(*fd);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = SV_SYSCALL(::read(*fd, buf, sizeof buf), "cgroup file {}", name);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::optional<uint64_t> parseKnobNumber(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  if (text.starts_with("max")) return std::numeric_limits<uint64_t>::max();
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc()) return std::nullopt;
  return v;
}

std::optional<uint64_t> readKnobNumber(int dirfd, const char* name) {
  auto text = readKnob(dirfd, name);
  if (!text) return std::nullopt;
  return parseKnobNumber(*text);
}

}  // namespace sv::cg
