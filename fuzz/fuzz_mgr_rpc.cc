// sysvisor-mgr's request handlers (MgrService: register, unregister, status) driven in-process:
// the input is a Cap'n Proto MgrScript (fuzz_rpc.capnp) read with strict limits; each call goes
// through a local capability on a KJ event loop, against a table and stores in a private
// scratch directory. Checks, after every call: a handler never throws (expected failures are
// the `error` text), the table stays consistent (blocks inside the pool, uid and gid bases in
// step, exclusive blocks under no-reuse, free + held == all), what status reports is the
// table, and the saved ids.json loads back to the same table.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/async.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "base/file_util.h"
#include "base/unique_fd.h"
#include "fuzz/fuzz_rpc.capnp.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/rpc_script.h"
#include "ipc/mgr.capnp.h"
#include "personalities/mgr/id_alloc.h"
#include "personalities/mgr/service.h"

namespace {

using sv::mgr::Allocation;
using sv::mgr::IdAllocator;
using sv::mgr::kBlockSize;

constexpr uint32_t kStart = 1000000;

void checkTable(const IdAllocator& alloc) {
  std::set<uint32_t> held;
  for (const Allocation& a : alloc.list()) {
    SV_FUZZ_CHECK(a.uidBase >= kStart && (a.uidBase - kStart) % kBlockSize == 0, a.id);
    SV_FUZZ_CHECK((a.uidBase - kStart) / kBlockSize < alloc.blockCount(), a.id);
    SV_FUZZ_CHECK(a.gidBase - kStart == a.uidBase - kStart && a.size == kBlockSize, a.id);
    SV_FUZZ_CHECK(!a.rootfs.empty() && a.rootfs[0] == '/', a.rootfs);
    bool fresh = held.insert(a.uidBase).second;
    SV_FUZZ_CHECK(fresh || alloc.policy() == sv::mgr::SubidPolicy::kReuse, a.id);
  }
  SV_FUZZ_CHECK(alloc.freeCount() + held.size() == alloc.blockCount(), "free + held != all");
  // What the daemon saves, it can load again.
  IdAllocator again(alloc.uidStart(), alloc.gidStart(), alloc.poolSize(), alloc.policy());
  again.load(alloc.serialize());
  SV_FUZZ_CHECK(again.list() == alloc.list(), "ids.json does not load back");
}

void checkStatus(capnp::Response<sv::ipc::schema::Mgr::StatusResults>& st,
                 const IdAllocator& alloc) {
  auto all = alloc.list();
  auto containers = st.getContainers();
  SV_FUZZ_CHECK(containers.size() == all.size(), "status lists another table");
  for (unsigned i = 0; i < all.size(); ++i) {
    SV_FUZZ_CHECK(all[i].id == containers[i].getId().cStr(), all[i].id);
    SV_FUZZ_CHECK(all[i].uidBase == containers[i].getRange().getUidBase(), all[i].id);
  }
  SV_FUZZ_CHECK(st.getPool().getBlocks() == alloc.blockCount(), "");
}

void runScript(sv::fuzz::schema::MgrScript::Reader script) {
  const auto& scratch = sv::fuzz::scratch();
  const std::string data = scratch.fresh("mgr/data");
  std::vector<std::string> stores = {scratch.fresh("mgr/docker"),
                                     scratch.fresh("mgr/containerd")};
  const unsigned blocks = script.getPoolBlocks() == 0 ? 4 : (script.getPoolBlocks() - 1) % 16 + 1;
  IdAllocator alloc(kStart, kStart, uint64_t{blocks} * kBlockSize,
                    script.getReuse() ? sv::mgr::SubidPolicy::kReuse
                                      : sv::mgr::SubidPolicy::kNoReuse);
  if (script.hasTable()) {
    const std::string before = alloc.serialize();
    try {
      alloc.load(script.getTable().cStr());
    } catch (const sv::mgr::AllocError&) {
      SV_FUZZ_CHECK(alloc.serialize() == before, "a refused table replaced the old one");
    }
  }
  sv::UniqueFd dataFd(::open(data.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  sv::mgr::Table table(alloc, dataFd.get(), stores);

  kj::EventLoop loop;
  kj::WaitScope ws(loop);
  sv::ipc::schema::Mgr::Client client = kj::heap<sv::mgr::MgrService>(table);
  for (auto call : script.getCalls()) {
    switch (call.which()) {
      case sv::fuzz::schema::MgrCall::REGISTER: {
        auto req = client.registerRequest();
        req.setId(call.getRegister().getId());
        req.setRootfs(call.getRegister().getRootfs());
        auto r = req.send().wait(ws);
        if (!r.hasError()) {
          const Allocation* a = alloc.find(call.getRegister().getId().cStr());
          SV_FUZZ_CHECK(a && a->uidBase == r.getRange().getUidBase(), "register's range");
        }
        break;
      }
      case sv::fuzz::schema::MgrCall::UNREGISTER: {
        auto req = client.unregisterRequest();
        req.setId(call.getUnregister().getId());
        req.setGone(call.getUnregister().getGone());
        auto r = req.send().wait(ws);
        if (r.getKnown() && call.getUnregister().getGone())
          SV_FUZZ_CHECK(!alloc.find(call.getUnregister().getId().cStr()), "gone but kept");
        break;
      }
      case sv::fuzz::schema::MgrCall::STATUS: {
        auto r = client.statusRequest().send().wait(ws);
        checkStatus(r, alloc);
        break;
      }
    }
    checkTable(alloc);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::quietLogs();
  capnp::MallocMessageBuilder script;
  if (!sv::fuzz::readScript<sv::fuzz::schema::MgrScript>(data, size, script)) return 0;
  try {
    runScript(script.getRoot<sv::fuzz::schema::MgrScript>().asReader());
  } catch (const kj::Exception& e) {
    sv::fuzz::violated("a handler threw", e.getDescription().cStr());
  }
  return 0;
}
