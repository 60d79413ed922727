#include "nsutil/sync.h"

#include "base/fd_passing.h"

#include <sys/socket.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sv::ns {

namespace {
void setMessage(SyncMsg& msg, const char* message) noexcept {
  size_t i = 0;
  for (; message && message[i] && i + 1 < sizeof msg.message; ++i) msg.message[i] = message[i];
  msg.message[i] = '\0';
}
}  // namespace

bool syncSend(int fd, SyncType type, int err, int64_t value, const char* message) noexcept {
  SyncMsg msg{};
  msg.type = type;
  msg.err = err;
  msg.value = value;
  setMessage(msg, message);
  for (;;) {
    ssize_t n = ::send(fd, &msg, sizeof msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof msg)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool syncRecv(int fd, SyncMsg& msg) noexcept { return syncRecvFd(fd, msg, nullptr); }

bool syncSendFd(int fd, SyncType type, int passFd, const char* message) noexcept {
  SyncMsg msg{};
  msg.type = type;
  setMessage(msg, message);
  return sendWithFd(fd, &msg, sizeof msg, passFd) == static_cast<ssize_t>(sizeof msg);
}

bool syncRecvFd(int fd, SyncMsg& msg, int* passed) noexcept {
  if (passed) *passed = -1;
  struct iovec iov = {&msg, sizeof msg};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr mh {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  for (;;) {
    ssize_t n = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    // A passed fd is ours to close even when the frame itself is bad.
    for (struct cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      int got;
      std::memcpy(&got, CMSG_DATA(cm), sizeof got);
      if (passed && *passed < 0) *passed = got;
      else ::close(got);
    }
    if (n != static_cast<ssize_t>(sizeof msg)) {
      if (passed && *passed >= 0) ::close(*passed), *passed = -1;
      return false;
    }
    msg.message[sizeof msg.message - 1] = '\0';
    return true;
  }
}

}  // namespace sv::ns
