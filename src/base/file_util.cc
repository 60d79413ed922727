#include "base/file_util.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv {

namespace {
std::string readFd(int fd, const std::string& what) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = SV_SYSCALL(::read(fd, buf, sizeof buf), "'{}'", what);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}
}  // namespace

std::string readLinkOrEmpty(const char* path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path, buf, sizeof buf);
  return n > 0 && static_cast<size_t>(n) < sizeof buf ? std::string(buf, static_cast<size_t>(n))
                                                       : std::string();
}

std::string readFileAt(int dirfd, const std::string& path) {
  UniqueFd fd(SV_SYSCALL(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC), "'{}'", path));
  return readFd(fd.get(), path);
}

std::string readFile(const std::string& path) { return readFileAt(AT_FDCWD, path); }

std::optional<std::string> readFileIfExists(const std::string& path) {
  auto fd = SV_SYSCALL_IF_EXISTS(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "'{}'", path);
  if (!fd) return std::nullopt;
  UniqueFd owned(*fd);
  return readFd(owned.get(), path);
}

void writeAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = SV_SYSCALL(::write(fd, data.data(), data.size()), "'{}'", what);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void writeFileAtomic(int dirfd, const std::string& name, std::string_view data, unsigned mode,
                     bool durable) {
  std::string tmp = "." + name + ".tmp";
  UniqueFd fd(SV_SYSCALL(
      ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode),
      "'{}'", tmp));
  try {
    writeAll(fd.get(), data, tmp);
    // The data reaches the disk before the name points at it, and the rename before we
    // return: after a crash the file is the old one or the new one, never empty.
    if (durable) SV_SYSCALL(::fsync(fd.get()), "'{}'", tmp);
    SV_SYSCALL(::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()), "'{}' to '{}'", tmp, name);
    if (durable) SV_SYSCALL(::fsync(dirfd), "directory of '{}'", name);
  } catch (...) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    throw;
  }
}

void writeFileAt(int dirfd, const std::string& path, std::string_view data) {
  UniqueFd fd(SV_SYSCALL(::openat(dirfd, path.c_str(), O_WRONLY | O_CLOEXEC), "'{}'", path));
  writeAll(fd.get(), data, path);
}

int openat2(int dirfd, const char* path, int flags, uint64_t resolve) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = resolve;
  for (;;) {
    long r = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (r >= 0 || errno != EINTR) return static_cast<int>(r);
  }
}

}  // namespace sv
