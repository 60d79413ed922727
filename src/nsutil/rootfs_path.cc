#include "nsutil/rootfs_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>

#include "nsutil/plan.h"

#include "base/file_util.h"
#include "base/sys_error.h"

namespace sv::ns {

std::optional<UniqueFd> openInRoot(int rootfd, const std::string& path, int flags) {
  // A leading "/" is relative to the root under RESOLVE_IN_ROOT; "." opens the root itself.
  const char* p = path == "/" || path.empty() ? "." : path.c_str();
  int fd = sv::openat2(rootfd, p, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) return UniqueFd(fd);
  if (errno == ENOENT) return std::nullopt;
  throwSysError(errno, "openat2", fmt::format("'{}' in the container rootfs", path));
}

UniqueFd ensureInRoot(int rootfd, const std::string& target, bool isDir) {
  if (auto fd = openInRoot(rootfd, target, O_PATH)) return std::move(*fd);
  // Walk from the root, creating what is missing. Each step re-resolves from the rootfs fd so
  // a symlink met on the way stays inside the rootfs. A dangling symlink is followed (inside
  // the rootfs) and its target created, as runc does for images with e.g. /var/run -> /run.
  std::string path = cleanPath(target);
  for (int hops = 0; hops < 40; ++hops) {
    std::string prefix;
    size_t pos = 0;
    bool restarted = false;
    while (pos < path.size() && !restarted) {
      size_t next = path.find('/', pos + 1);
      if (next == std::string::npos) next = path.size();
      std::string component = path.substr(pos + 1, next - pos - 1);
      bool last = next == path.size();
      std::string current = prefix + "/" + component;
      std::string rest = path.substr(next);
      pos = next;
      if (component.empty()) continue;
      if (auto fd = openInRoot(rootfd, current, O_PATH)) {
        prefix = current;
        if (last) return std::move(*fd);
        continue;
      }
      auto parent = openInRoot(rootfd, prefix.empty() ? "/" : prefix, O_PATH | O_DIRECTORY);
      if (!parent)
        throwSysError(ENOENT, "openat2", fmt::format("'{}' in the container rootfs", prefix));
      char link[PATH_MAX];
      ssize_t n = ::readlinkat(parent->get(), component.c_str(), link, sizeof link - 1);
      if (n >= 0) {
        link[n] = '\0';
        path = cleanPath((link[0] == '/' ? std::string(link) : prefix + "/" + link) + rest);
        restarted = true;
        break;
      }
      if (last && !isDir) {
        int fd = ::openat(parent->get(), component.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
        if (fd < 0 && errno != EEXIST)
          throwSysError(errno, "openat", fmt::format("creating mount target '{}'", current));
        if (fd >= 0) ::close(fd);
      } else if (::mkdirat(parent->get(), component.c_str(), 0755) < 0 && errno != EEXIST) {
        throwSysError(errno, "mkdirat",
                      fmt::format("creating '{}' in the container rootfs", current));
      }
      prefix = current;
      if (last) {
        if (auto fd = openInRoot(rootfd, current, O_PATH)) return std::move(*fd);
        throwSysError(ENOENT, "openat2", fmt::format("'{}' in the container rootfs", current));
      }
    }
    if (!restarted) return std::move(*openInRoot(rootfd, "/", O_PATH | O_DIRECTORY));
  }
  throwSysError(ELOOP, "openat2", fmt::format("'{}' in the container rootfs", target));
}

const char* fdPath(char (&buf)[64], int fd) {
  std::snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
  return buf;
}

}  // namespace sv::ns
