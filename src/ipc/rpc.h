// Cap'n Proto RPC over Unix sockets, the plumbing shared by every role: a synchronous client
// for short-lived callers (the runtime) and a listening socket for the daemons that only
// serves root peers. KJ runs the event loops (one per thread, created after any clone).
#pragma once

#include <capnp/capability.h>
#include <kj/async-io.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace sv::ipc {

// The daemon's socket is missing or refuses connections, or it stopped answering.
class DaemonDown : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure the daemon reported (a full id pool, a bad argument); its text is for the user.
class RemoteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One connection to a daemon, driven synchronously: call() sends a request and waits for the
// answer at most `timeout`. The event loop lives as long as the object; destroy it before
// cloning (the runtime's init must not inherit a loop's fds).
class SyncClient {
 public:
  // daemonName and startHint make the "not running" message: what is down and how to start it.
  SyncClient(const std::string& socketPath, std::string daemonName, std::string startHint,
             std::chrono::milliseconds timeout);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  capnp::Capability::Client bootstrap();
  // Waits for a promise at most the timeout; a timeout or a lost connection is DaemonDown.
  template <typename T>
  T wait(kj::Promise<T>&& promise) {
    auto limited = timer().timeoutAfter(timeout_.count() * kj::MILLISECONDS, kj::mv(promise));
    try {
      return limited.wait(waitScope());
    } catch (const kj::Exception& e) {
      rethrow(e);
    }
  }

 private:
  [[noreturn]] void rethrow(const kj::Exception& e);
  kj::WaitScope& waitScope();
  kj::Timer& timer();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string socketPath_, daemonName_, startHint_;
  std::chrono::milliseconds timeout_;
};

// Listens on a Unix socket for root peers only (SO_PEERCRED), serving `bootstrap` to each.
// A stale socket file from a dead daemon is replaced; the caller holds the single-instance
// lock. Runs until the returned promise is dropped or fails.
kj::Promise<void> serveUnix(kj::AsyncIoContext& io, const std::string& socketPath,
                            capnp::Capability::Client bootstrap);

}  // namespace sv::ipc
