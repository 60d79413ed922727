// The FUSE side of sysvisor-fs: the low-level operations over the mount
// `<mountpoint>/<container id>/<path the container sees>`, the open-file handles, and the
// live inputs of the renderers. libfuse's multi-threaded loop calls in; everything here is
// safe to call from several threads.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "fusefs/container.h"
#include "fusefs/file_cache.h"
#include "fusefs/nodes.h"
#include "fusefs/proc_sys.h"
#include "fusefs/registry.h"

struct fuse_lowlevel_ops;
struct fuse_session;

namespace sv::fs {

class FuseFs {
 public:
  // persist: called after a container's per-container sysctl values changed.
  FuseFs(ContainerTable& table, NodeTable& nodes, std::string self,
         std::function<void(const Container&)> persist);

  static const fuse_lowlevel_ops& ops();

  // The load averages: one sample of every container whose /proc/loadavg was read lately.
  // The daemon calls it every 5 seconds.
  void sampleLoads();

  // The session serving the mount (for invalidations), once it exists.
  void setSession(fuse_session* se) { se_.store(se); }
  // A container is gone: the kernel must stop trusting its cached directory entry.
  void invalidateContainer(const std::string& id);
  // Makes the kernel's i_size of the node at least data's length (for page-cache readers).
  void growSize(uint64_t ino, const std::string& data);

  // What the callbacks use (public for the static trampolines in fuse_fs.cc).
  struct Handle {
    std::string cid, path;
    std::string data;  // the rendered file, or the directory listing
    bool sysctl = false;
  };
  ContainerTable& table;
  NodeTable& nodes;
  ProcSys procSys;
  Registry registry;
  std::function<void(const Container&)> persist;
  FileCache hostFiles;  // the host's /proc and /sys files the renderers read

  uint64_t addHandle(std::unique_ptr<Handle> h);
  // A copy of the handle's key and data; nullopt for an unknown fh (from before a restart).
  std::shared_ptr<Handle> handle(uint64_t fh);
  void dropHandle(uint64_t fh);

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Handle>> handles_;
  uint64_t nextFh_;
  std::atomic<fuse_session*> se_{nullptr};
};

// Samples the container's tasks (running, total, last pid) and folds them into its load.
void sampleLoad(const Container& c);

}  // namespace sv::fs
