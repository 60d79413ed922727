#include "nsutil/mount_api.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/sys_error.h"

namespace sv::ns {

namespace {

std::string contextLog(int fs) {
  std::string log;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fs, buf, sizeof buf);
    if (n <= 0) break;
    if (!log.empty()) log += "; ";
    log.append(buf, static_cast<size_t>(n));
  }
  return log;
}

}  // namespace

void fsconfig(int fs, unsigned cmd, const char* key, const char* value, const std::string& what,
              const char* busyHint) {
  for (;;) {
    if (::syscall(SYS_fsconfig, fs, cmd, key, value, 0) == 0) return;
    if (errno == EINTR) continue;
    int err = errno;
    std::string log = contextLog(fs);
    if (err == EBUSY && log.empty() && busyHint) log = busyHint;
    throwSysError(err, "fsconfig", fmt::format("{}{}{}", what, log.empty() ? "" : ": ", log));
  }
}

}  // namespace sv::ns
