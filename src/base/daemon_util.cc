#include "base/daemon_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "base/file_util.h"
#include "base/sys_error.h"

namespace sv::daemon {

void makeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return;
  // Missing parents are made as `mkdir -p` does (0755), then the directory itself.
  auto slash = path.find_last_not_of('/');
  slash = slash == std::string::npos ? slash : path.rfind('/', slash);
  if (errno == ENOENT && slash != std::string::npos && slash > 0) {
    makeDir(path.substr(0, slash), 0755);
    if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return;
  }
  throwSysError(errno, "mkdir", fmt::format("'{}'", path));
}

UniqueFd lockSingleInstance(const std::string& path, std::string_view daemonName) {
  UniqueFd fd(SV_SYSCALL(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644),
                         "'{}'", path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throwSysError(errno, "flock", fmt::format("'{}'", path));
    std::string pid = readFileIfExists(path).value_or("?");
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw UserError(fmt::format("{} is already running (pid {}, lock '{}'); stop it first or "
                                "use another --run-dir",
                                daemonName, pid, path));
  }
  SV_SYSCALL(::ftruncate(fd.get(), 0), "'{}'", path);
  writeAll(fd.get(), fmt::format("{}\n", ::getpid()), path);
  return fd;
}

void notifyReady() {
  const char* sock = ::getenv("NOTIFY_SOCKET");
  if (!sock || !*sock) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(sock);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, sock, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  const char msg[] = "READY=1";
  ::sendto(fd.get(), msg, sizeof(msg) - 1, 0, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

bool plausibleContainerId(std::string_view id) {
  if (id.empty() || id.size() > 1024) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
          c == '+'))
      return false;
  return id != "." && id != "..";
}

log::Level logLevelFrom(const std::string& s) {
  if (s == "debug") return log::Level::kDebug;
  if (s == "info") return log::Level::kInfo;
  if (s == "warn" || s == "warning") return log::Level::kWarn;
  if (s == "error") return log::Level::kError;
  throw UserError(fmt::format("--log-level: unknown level \"{}\" (debug, info, warn, error)", s));
}

}  // namespace sv::daemon
