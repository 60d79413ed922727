#include "fusefs/file_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sv::fs {

FileCache::~FileCache() {
  for (const auto& [name, fd] : fds_)
    if (fd >= 0) ::close(fd);
}

std::optional<std::string> preadAll(int fd) {
  // One pread covers nearly every file; bigger ones (/proc/stat on many CPUs) take more.
  thread_local char buf[16384];
  std::string out;
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

std::optional<std::string> FileCache::read(int dirfd, std::string_view name) {
  int fd;
  {
    std::lock_guard lock(mu_);
    auto it = fds_.find(name);
    if (it == fds_.end()) {
      std::string n(name);
      fd = ::openat(dirfd, n.c_str(), O_RDONLY | O_CLOEXEC);
      // Out of fds: read it once without keeping it.
      if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        // fall through to an uncached read below
      } else {
        it = fds_.emplace(std::move(n), fd).first;
      }
    } else {
      fd = it->second;
    }
    if (it == fds_.end()) fd = -2;
  }
  if (fd == -1) return std::nullopt;
  if (fd == -2) {
    std::string n(name);
    int once = ::openat(dirfd, n.c_str(), O_RDONLY | O_CLOEXEC);
    if (once < 0) return std::nullopt;
    auto text = preadAll(once);
    ::close(once);
    return text;
  }
  return preadAll(fd);
}

}  // namespace sv::fs
