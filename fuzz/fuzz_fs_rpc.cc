// sysvisor-fs's request handlers (FsService: register, unregister, status) driven in-process:
// the input is a Cap'n Proto FsScript (fuzz_rpc.capnp) read with strict limits; each call goes
// through a local capability on a KJ event loop. The service's store, node log and cgroup
// mounts are in a private scratch directory (a fake cgroup tree); no FUSE session exists, so
// invalidations are no-ops. Checks: a handler never throws (expected failures are `error`
// text), a registration answers the container's subtree and the registry's bind paths and is
// in the table, status reports the table, unregister removes, and what the store saved loads
// back (as after a daemon restart) to the registered data.
#include <fcntl.h>
#include <kj/async.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fusefs/container.h"
#include "fusefs/fuse_fs.h"
#include "fusefs/nodes.h"
#include "fuzz/fuzz_rpc.capnp.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/rpc_script.h"
#include "ipc/fs.capnp.h"
#include "personalities/fs/service.h"

namespace {

namespace fs = sv::fs;

// A host cgroup layout in the scratch directory: cgroup2 and a v1 memory hierarchy, each with
// a "/x" cgroup holding a few files.
const fs::CgroupMounts& cgroupMounts() {
  static const fs::CgroupMounts mounts = [] {
    fs::CgroupMounts m;
    m.v2 = sv::fuzz::scratch().fresh("fs/cgroup2");
    m.v1.emplace("memory", sv::fuzz::scratch().fresh("fs/cgroup/memory"));
    std::filesystem::create_directories(m.v2 + "/x");
    std::filesystem::create_directories(m.v1.at("memory") + "/x");
    return m;
  }();
  return mounts;
}

bool sameData(const fs::ContainerData& a, const fs::ContainerData& b) {
  return a.id == b.id && a.initPid == b.initPid && a.startTicks == b.startTicks &&
         a.uidBase == b.uidBase && a.gidBase == b.gidBase && a.idSize == b.idSize &&
         a.created == b.created && a.hostname == b.hostname && a.cgroupLines == b.cgroupLines;
}

void checkReload(const std::string& storeDir, const fs::ContainerTable& table) {
  sv::fsd::Store again(storeDir);
  auto loaded = again.load();
  auto snap = table.snapshot();
  // Inits that ended meanwhile are dropped from the store; none of ours do (pid 1 and our own).
  SV_FUZZ_CHECK(loaded.size() <= snap->size(), "the store holds more than the table");
  for (const auto& [data, sysctls] : loaded) {
    auto it = snap->find(data.id);
    SV_FUZZ_CHECK(it != snap->end(), data.id);
    SV_FUZZ_CHECK(sameData(it->second->data(), data), data.id);
  }
}

void runScript(sv::fuzz::schema::FsScript::Reader script) {
  const auto& scratch = sv::fuzz::scratch();
  const fs::CgroupMounts& mounts = cgroupMounts();
  const std::string run = scratch.fresh("fs/run");
  const std::string storeDir = run + "/containers";
  const std::string mountpoint = "/run/sysvisor-fuzz/fs";  // never mounted: only a name
  sv::fsd::Store store(storeDir);
  fs::ContainerTable table;
  fs::NodeTable nodes(run + "/nodes.log");
  fs::FuseFs fuse(table, nodes, "/proc/self/exe", [](const fs::Container&) {});

  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  sv::ipc::schema::Fs::Client client =
      kj::heap<sv::fsd::FsService>(fuse, store, mounts, mountpoint);
  const std::vector<std::string> binds = sv::fsd::bindPaths();
  for (auto call : script.getCalls()) {
    switch (call.which()) {
      case sv::fuzz::schema::FsCall::REGISTER: {
        auto req = client.registerRequest();
        req.setData(call.getRegister());
        auto r = req.send().wait(ws);
        if (r.hasError()) break;
        const std::string id = call.getRegister().getId().cStr();
        SV_FUZZ_CHECK(r.getRoot() == mountpoint + "/" + id, r.getRoot().cStr());
        SV_FUZZ_CHECK(r.getBinds().size() == binds.size(), id);
        for (unsigned i = 0; i < binds.size(); ++i)
          SV_FUZZ_CHECK(r.getBinds()[i] == binds[i], binds[i]);
        SV_FUZZ_CHECK(table.find(id) != nullptr, id);
        // The kernel looks the container's directory up; unregister must drop its nodes.
        nodes.ref(id, "/");
        nodes.ref(id, "/proc/uptime");
        break;
      }
      case sv::fuzz::schema::FsCall::UNREGISTER: {
        auto req = client.unregisterRequest();
        req.setId(call.getUnregister());
        auto r = req.send().wait(ws);
        const std::string id = call.getUnregister().cStr();
        SV_FUZZ_CHECK(table.find(id) == nullptr, id);
        (void)r;
        break;
      }
      case sv::fuzz::schema::FsCall::STATUS: {
        auto r = client.statusRequest().send().wait(ws);
        SV_FUZZ_CHECK(r.getContainers().size() == table.snapshot()->size(), "status");
        SV_FUZZ_CHECK(r.getMountpoint() == mountpoint, "status mountpoint");
        break;
      }
    }
  }
  checkReload(storeDir, table);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::quietLogs();
  capnp::MallocMessageBuilder script;
  if (!sv::fuzz::readScript<sv::fuzz::schema::FsScript>(data, size, script)) return 0;
  try {
    runScript(script.getRoot<sv::fuzz::schema::FsScript>().asReader());
  } catch (const kj::Exception& e) {
    sv::fuzz::violated("a handler threw", e.getDescription().cStr());
  }
  return 0;
}
