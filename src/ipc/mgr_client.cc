#include "ipc/mgr_client.h"

#include "ipc/blocking_rpc.h"
#include "ipc/mgr.capnp.h"
#include "ipc/rpc.h"

namespace sv::ipc {

namespace {

// The interface and its methods' ordinals (@0, @1, @2 in mgr.capnp).
constexpr uint64_t kMgr = capnp::typeId<schema::Mgr>();
constexpr uint16_t kRegister = 0, kUnregister = 1, kStatus = 2;

IdRange fromCapnp(schema::IdRange::Reader r) {
  return {r.getUidBase(), r.getGidBase(), r.getSize()};
}

}  // namespace

MgrClient::MgrClient(const std::string& socketPath, std::chrono::milliseconds timeout)
    : rpc_(std::make_unique<BlockingRpc>(socketPath, "sysvisor-mgr", kMgrStartHint, timeout)) {}

MgrClient::~MgrClient() = default;

MgrClient::Registered MgrClient::registerContainer(const std::string& id,
                                                   const std::string& rootfs) {
  auto reply = rpc_->call(kMgr, kRegister, [&](capnp::AnyPointer::Builder p) {
    auto req = p.initAs<schema::Mgr::RegisterParams>();
    req.setId(id);
    req.setRootfs(rootfs);
  });
  auto resp = reply.content.getAs<schema::Mgr::RegisterResults>();
  if (resp.hasError() && resp.getError().size() > 0) throw RemoteError(resp.getError().cStr());
  return {fromCapnp(resp.getRange()), resp.getFresh(), resp.getWarning().cStr(),
          resp.getStore().cStr(), resp.getContainerdStore().cStr()};
}

bool MgrClient::unregisterContainer(const std::string& id, bool gone) {
  auto reply = rpc_->call(kMgr, kUnregister, [&](capnp::AnyPointer::Builder p) {
    auto req = p.initAs<schema::Mgr::UnregisterParams>();
    req.setId(id);
    req.setGone(gone);
  });
  return reply.content.getAs<schema::Mgr::UnregisterResults>().getKnown();
}

MgrStatus MgrClient::status() {
  auto reply = rpc_->call(kMgr, kStatus, [&](capnp::AnyPointer::Builder p) {
    p.initAs<schema::Mgr::StatusParams>();
  });
  auto resp = reply.content.getAs<schema::Mgr::StatusResults>();
  MgrStatus out;
  auto p = resp.getPool();
  out.pool = {p.getUidStart(), p.getGidStart(), p.getSize(), p.getPolicy().cStr(),
              p.getBlocksInUse(), p.getBlocks()};
  for (auto c : resp.getContainers())
    out.containers.push_back({c.getId().cStr(), fromCapnp(c.getRange()), c.getRunning(),
                              c.getSince(), c.getRootfs().cStr(), c.getShared()});
  auto d = resp.getDaemon();
  out.daemon = {d.getVersion().cStr(), d.getPid(), d.getStarted()};
  return out;
}

}  // namespace sv::ipc
