#include "ipc/fs_client.h"

#include "ipc/blocking_rpc.h"
#include "ipc/fs.capnp.h"
#include "ipc/rpc.h"

namespace sv::ipc {

namespace {

// The interface and its methods' ordinals (@0, @1, @2 in fs.capnp).
constexpr uint64_t kFs = capnp::typeId<schema::Fs>();
constexpr uint16_t kRegister = 0, kUnregister = 1, kStatus = 2;

void toCapnp(const ContainerData& d, schema::ContainerData::Builder b) {
  b.setId(d.id);
  b.setInitPid(d.initPid);
  b.setInitStartTime(d.initStartTime);
  auto r = b.initRange();
  r.setUidBase(d.range.uidBase);
  r.setGidBase(d.range.gidBase);
  r.setSize(d.range.size);
  b.setCreated(d.created);
  b.setHostname(d.hostname);
  auto paths = b.initCgroupPaths(static_cast<unsigned>(d.cgroupPaths.size()));
  for (unsigned i = 0; i < d.cgroupPaths.size(); ++i) paths.set(i, d.cgroupPaths[i]);
}

ContainerData fromCapnp(schema::ContainerData::Reader r) {
  ContainerData d;
  d.id = r.getId().cStr();
  d.initPid = r.getInitPid();
  d.initStartTime = r.getInitStartTime();
  auto range = r.getRange();
  d.range = {range.getUidBase(), range.getGidBase(), range.getSize()};
  d.created = r.getCreated();
  d.hostname = r.getHostname().cStr();
  for (auto p : r.getCgroupPaths()) d.cgroupPaths.emplace_back(p.cStr());
  return d;
}

}  // namespace

FsClient::FsClient(const std::string& socketPath, std::chrono::milliseconds timeout)
    : rpc_(std::make_unique<BlockingRpc>(socketPath, "sysvisor-fs", kFsStartHint, timeout)) {}

FsClient::~FsClient() = default;

FsClient::Registered FsClient::registerContainer(const ContainerData& data) {
  auto reply = rpc_->call(kFs, kRegister, [&](capnp::AnyPointer::Builder p) {
    toCapnp(data, p.initAs<schema::Fs::RegisterParams>().initData());
  });
  auto resp = reply.content.getAs<schema::Fs::RegisterResults>();
  if (resp.hasError() && resp.getError().size() > 0) throw RemoteError(resp.getError().cStr());
  Registered out;
  out.root = resp.getRoot().cStr();
  for (auto b : resp.getBinds()) out.binds.emplace_back(b.cStr());
  return out;
}

bool FsClient::unregisterContainer(const std::string& id) {
  auto reply = rpc_->call(kFs, kUnregister, [&](capnp::AnyPointer::Builder p) {
    p.initAs<schema::Fs::UnregisterParams>().setId(id);
  });
  return reply.content.getAs<schema::Fs::UnregisterResults>().getKnown();
}

FsStatus FsClient::status() {
  auto reply = rpc_->call(kFs, kStatus, [&](capnp::AnyPointer::Builder p) {
    p.initAs<schema::Fs::StatusParams>();
  });
  auto resp = reply.content.getAs<schema::Fs::StatusResults>();
  FsStatus out;
  out.mountpoint = resp.getMountpoint().cStr();
  for (auto c : resp.getContainers()) out.containers.push_back(fromCapnp(c));
  auto d = resp.getDaemon();
  out.daemon = {d.getVersion().cStr(), d.getPid(), d.getStarted()};
  return out;
}

}  // namespace sv::ipc
