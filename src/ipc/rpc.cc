#include "ipc/rpc.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/rpc-twoparty.h>
#include <cstring>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::ipc {

sockaddr_un unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error(fmt::format("socket path '{}' is too long (at most {} bytes)", path,
                                         sizeof(addr.sun_path) - 1));
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

namespace {

// Accepts connections forever, handing root peers to the RPC server and dropping others.
class Acceptor {
 public:
  Acceptor(kj::Own<kj::ConnectionReceiver> listener, capnp::Capability::Client bootstrap)
      : listener_(kj::mv(listener)), server_(kj::mv(bootstrap)) {}

  kj::Promise<void> loop() {
    return listener_->accept().then([this](kj::Own<kj::AsyncIoStream>&& stream) {
      struct ucred cred {};
      uint len = sizeof(cred);
      stream->getsockopt(SOL_SOCKET, SO_PEERCRED, &cred, &len);
      // The socket is 0600 already; this also holds if someone loosens its mode. Only root
      // may ask for id ranges or change the table.
      if (cred.uid == 0) server_.accept(kj::mv(stream));
      return loop();
    });
  }

 private:
  kj::Own<kj::ConnectionReceiver> listener_;
  capnp::TwoPartyServer server_;
};

}  // namespace

kj::Promise<void> serveUnix(kj::AsyncIoContext& io, const std::string& socketPath,
                            capnp::Capability::Client bootstrap) {
  sockaddr_un addr = unixAddress(socketPath);
  UniqueFd fd(SV_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
                         "unix socket"));
  if (::unlink(socketPath.c_str()) != 0 && errno != ENOENT)
    throwSysError(errno, "unlink", fmt::format("stale socket '{}'", socketPath));
  // Bound with a umask so the socket is never reachable by others, not even for an instant.
  mode_t old = ::umask(0177);
  int r = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int e = errno;
  ::umask(old);
  if (r != 0) throwSysError(e, "bind", fmt::format("'{}'", socketPath));
  SV_SYSCALL(::listen(fd.get(), 128), "'{}'", socketPath);
  auto listener = io.lowLevelProvider->wrapListenSocketFd(
      fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                        kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK |
                        kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
  auto acceptor = kj::heap<Acceptor>(kj::mv(listener), kj::mv(bootstrap));
  auto promise = acceptor->loop();
  return promise.attach(kj::mv(acceptor));
}

}  // namespace sv::ipc
