// Passing an fd over an AF_UNIX socket (SCM_RIGHTS): the pty master, the seccomp listener,
// the sync channel's fds. Async-signal-safe (used in the container init).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace sv {

// One sendmsg(MSG_NOSIGNAL) of data[0..len) with fd attached; retried on EINTR. Returns the
// bytes sent, or -1 with errno set.
ssize_t sendWithFd(int sock, const void* data, size_t len, int fd) noexcept;

}  // namespace sv
