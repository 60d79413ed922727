// A Cap'n Proto RPC client without an event loop, for the runtime's one or two calls per
// command: the protocol's Bootstrap + Call (pipelined on the bootstrap answer) + Return,
// exchanged over a blocking Unix socket with poll() deadlines. The daemons' side is the
// standard RpcSystem (rpc.h serveUnix); this only speaks the subset a single call needs. Why
// not kj's RpcSystem here: its event loop, tables and code add ~1.4 MiB to the peak RSS of
// every `create` (measured with /usr/bin/time, 4.7 vs 3.3 MiB).
#pragma once

#include <capnp/any.h>
#include <capnp/message.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/unique_fd.h"

namespace sv::ipc {

class BlockingRpc {
 public:
  // Connects at once (DaemonDown with daemonName and startHint when nobody listens).
  BlockingRpc(const std::string& socketPath, std::string daemonName, std::string startHint,
              std::chrono::milliseconds timeout);
  ~BlockingRpc();

  struct Reply {
    std::unique_ptr<capnp::MessageReader> message;
    capnp::AnyPointer::Reader content;  // the method's results struct
  };
  // Calls method methodId of interface interfaceId on the daemon's bootstrap capability.
  // fill builds the params struct. The daemon's exception comes back as RemoteError; a dead
  // or silent daemon as DaemonDown (ConnectionLost when it closed the connection).
  Reply call(uint64_t interfaceId, uint16_t methodId,
             const std::function<void(capnp::AnyPointer::Builder)>& fill);

 private:
  void send(capnp::MessageBuilder& message);
  std::unique_ptr<capnp::MessageReader> receive();
  void readFully(void* buf, size_t n);
  [[noreturn]] void down(const std::string& what) const;
  [[noreturn]] void lost(const std::string& what) const;

  UniqueFd fd_;
  std::string socketPath_, daemonName_, startHint_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  uint32_t nextQuestion_ = 0;
  bool bootstrapped_ = false;
  uint32_t bootstrapQuestion_ = 0;
};

}  // namespace sv::ipc
