// Cap'n Proto RPC over Unix sockets: the errors callers see, and the daemons' listening socket
// that only serves root peers (KJ runs their event loops). The runtime's side, without an event
// loop, is blocking_rpc.h.
#pragma once

#include <sys/un.h>

#include <capnp/capability.h>
#include <kj/async-io.h>

#include <stdexcept>
#include <string>

namespace sv::ipc {

// The daemon's socket is missing or refuses connections, or it stopped answering.
class DaemonDown : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The daemon closed a connection that had worked (it was restarted or killed): a new
// connection may reach its successor. Not thrown for a daemon that is silent or not running.
class ConnectionLost : public DaemonDown {
 public:
  using DaemonDown::DaemonDown;
};

// A failure the daemon reported (a full id pool, a bad argument); its text is for the user.
class RemoteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The address of a Unix socket path; throws for a path too long for sun_path.
sockaddr_un unixAddress(const std::string& path);

// Listens on a Unix socket for root peers only (SO_PEERCRED), serving `bootstrap` to each.
// A stale socket file from a dead daemon is replaced; the caller holds the single-instance
// lock. Runs until the returned promise is dropped or fails.
kj::Promise<void> serveUnix(kj::AsyncIoContext& io, const std::string& socketPath,
                            capnp::Capability::Client bootstrap);

}  // namespace sv::ipc
