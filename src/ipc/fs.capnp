# sysvisor-runc ↔ sysvisor-fs (socket /run/sysvisor/fs.sock): what the FUSE daemon needs to
# emulate /proc and /sys for one container. Filled in by the fs issue.
@0xcf0ae7cdf9fd15e4;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sv::ipc::schema");

using Mgr = import "mgr.capnp";

struct ContainerData {
  id @0 :Text;
  initPid @1 :Int32;
  initStartTime @2 :UInt64;   # clock ticks since boot (/proc/<pid>/stat field 22)
  range @3 :Mgr.IdRange;
  created @4 :Int64;          # unix nanoseconds
  hostname @5 :Text;
  cgroupPaths @6 :List(Text);
}

interface Fs {
  mountpoint @0 () -> (path :Text);
  register @1 (data :ContainerData) -> (error :Text);
  unregister @2 (id :Text) -> ();
}
