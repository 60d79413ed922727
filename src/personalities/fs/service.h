// The Fs RPC interface (fs.capnp): registrations from sysvisor-runc, persisted in the run
// directory so a restarted daemon serves the same containers.
#pragma once

#include <ctime>
#include <mutex>
#include <string>

#include "base/unique_fd.h"
#include "fusefs/container.h"
#include "fusefs/fuse_fs.h"
#include "fusefs/nodes.h"
#include "ipc/fs.capnp.h"

namespace sv::fsd {

// The registrations on disk: one JSON file per container under <run-dir>/fs/containers.
class Store {
 public:
  explicit Store(std::string dir);
  void save(const fs::Container& c);
  void remove(const std::string& id);
  // Every saved container whose init still runs (the others' files are removed).
  std::vector<std::pair<fs::ContainerData, std::map<std::string, std::string, std::less<>>>>
  load();

 private:
  std::string dir_;
  UniqueFd dirFd_;
  std::mutex mu_;
};

class FsService final : public ipc::schema::Fs::Server {
 public:
  FsService(fs::FuseFs& fs, Store& store, const fs::CgroupMounts& mounts,
            std::string mountpoint)
      : fs_(fs), table_(fs.table), nodes_(fs.nodes), store_(store), mounts_(mounts),
        mountpoint_(std::move(mountpoint)), started_(::time(nullptr)) {}

 protected:
  kj::Promise<void> register_(RegisterContext context) override;
  kj::Promise<void> unregister(UnregisterContext context) override;
  kj::Promise<void> status(StatusContext context) override;

 private:
  fs::FuseFs& fs_;
  fs::ContainerTable& table_;
  fs::NodeTable& nodes_;
  Store& store_;
  const fs::CgroupMounts& mounts_;
  std::string mountpoint_;
  int64_t started_;  // for status: when this daemon started serving
};

// The container paths the runtime bind-mounts from a container's subtree, in mount order.
std::vector<std::string> bindPaths();

}  // namespace sv::fsd
