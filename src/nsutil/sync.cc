#include "nsutil/sync.h"

#include <sys/socket.h>

#include <cerrno>

namespace sv::ns {

bool syncSend(int fd, SyncType type, int err, int64_t value, const char* message) noexcept {
  SyncMsg msg{};
  msg.type = type;
  msg.err = err;
  msg.value = value;
  size_t i = 0;
  for (; message && message[i] && i + 1 < sizeof msg.message; ++i) msg.message[i] = message[i];
  msg.message[i] = '\0';
  for (;;) {
    ssize_t n = ::send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof msg)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool syncRecv(int fd, SyncMsg& msg) noexcept {
  for (;;) {
    ssize_t n = ::recv(fd, &msg, sizeof msg, 0);
    if (n == static_cast<ssize_t>(sizeof msg)) {
      msg.message[sizeof msg.message - 1] = '\0';
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace sv::ns
