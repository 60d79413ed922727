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

namespace {

sockaddr_un unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error(fmt::format("socket path '{}' is too long (at most {} bytes)", path,
                                         sizeof(addr.sun_path) - 1));
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

struct SyncClient::Impl {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyClient> client;
};

SyncClient::SyncClient(const std::string& socketPath, std::string daemonName,
                       std::string startHint, std::chrono::milliseconds timeout)
    : socketPath_(socketPath),
      daemonName_(std::move(daemonName)),
      startHint_(std::move(startHint)),
      timeout_(timeout) {
  // connect(2) on a Unix socket completes at once (or fails with a useful errno), so it is
  // done synchronously before any event loop exists.
  sockaddr_un addr = unixAddress(socketPath);
  UniqueFd fd(SV_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "unix socket"));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    if (e == EACCES || e == EPERM)
      throw DaemonDown(fmt::format("cannot connect to {} (socket '{}': {}): only root may use it",
                                   daemonName_, socketPath, std::strerror(e)));
    throw DaemonDown(fmt::format("{} is not running ({}; socket '{}': {})", daemonName_,
                                 startHint_, socketPath, std::strerror(e)));
  }
  impl_ = std::make_unique<Impl>();
  impl_->stream = impl_->io.lowLevelProvider->wrapSocketFd(
      fd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  impl_->client = kj::heap<capnp::TwoPartyClient>(*impl_->stream);
}

SyncClient::~SyncClient() = default;

capnp::Capability::Client SyncClient::bootstrap() { return impl_->client->bootstrap(); }
kj::WaitScope& SyncClient::waitScope() { return impl_->io.waitScope; }
kj::Timer& SyncClient::timer() { return impl_->io.provider->getTimer(); }

void SyncClient::rethrow(const kj::Exception& e) {
  if (e.getType() == kj::Exception::Type::OVERLOADED ||
      e.getType() == kj::Exception::Type::DISCONNECTED) {
    std::string what = e.getDescription().cStr();
    if (what.find("timed out") != std::string::npos)
      throw DaemonDown(fmt::format("{} did not answer within {} ms (socket '{}'); check its log "
                                   "or restart it ({})",
                                   daemonName_, timeout_.count(), socketPath_, startHint_));
    throw DaemonDown(fmt::format("{} closed the connection ({}); check its log or restart it ({})",
                                 daemonName_, what, startHint_));
  }
  throw RemoteError(fmt::format("{}: {}", daemonName_, e.getDescription().cStr()));
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
