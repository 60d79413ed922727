#include "ipc/mgr_client.h"

#include "ipc/mgr.capnp.h"
#include "ipc/rpc.h"

namespace sv::ipc {

namespace {

IdRange fromCapnp(schema::IdRange::Reader r) {
  return {r.getUidBase(), r.getGidBase(), r.getSize()};
}

}  // namespace

MgrClient::MgrClient(const std::string& socketPath, std::chrono::milliseconds timeout)
    : rpc_(std::make_unique<SyncClient>(socketPath, "sysvisor-mgr", kMgrStartHint, timeout)) {}

MgrClient::~MgrClient() = default;

MgrClient::Registered MgrClient::registerContainer(const std::string& id,
                                                   const std::string& rootfs) {
  auto mgr = rpc_->bootstrap().castAs<schema::Mgr>();
  auto req = mgr.registerRequest();
  req.setId(id);
  req.setRootfs(rootfs);
  auto resp = rpc_->wait(req.send());
  if (resp.hasError() && resp.getError().size() > 0) throw RemoteError(resp.getError().cStr());
  return {fromCapnp(resp.getRange()), resp.getFresh(), resp.getWarning().cStr()};
}

bool MgrClient::unregisterContainer(const std::string& id, bool gone) {
  auto mgr = rpc_->bootstrap().castAs<schema::Mgr>();
  auto req = mgr.unregisterRequest();
  req.setId(id);
  req.setGone(gone);
  return rpc_->wait(req.send()).getKnown();
}

MgrStatus MgrClient::status() {
  auto mgr = rpc_->bootstrap().castAs<schema::Mgr>();
  auto resp = rpc_->wait(mgr.statusRequest().send());
  MgrStatus out;
  auto p = resp.getPool();
  out.pool = {p.getUidStart(), p.getGidStart(), p.getSize(), p.getPolicy().cStr(),
              p.getBlocksInUse(), p.getBlocks()};
  for (auto c : resp.getContainers())
    out.containers.push_back({c.getId().cStr(), fromCapnp(c.getRange()), c.getRunning(),
                              c.getSince(), c.getRootfs().cStr(), c.getShared()});
  return out;
}

}  // namespace sv::ipc
