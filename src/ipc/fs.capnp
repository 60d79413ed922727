# sysvisor-runc ↔ sysvisor-fs (socket /run/sysvisor/fs.sock): what the FUSE daemon needs to
# emulate /proc and /sys for one container, and what the runtime bind-mounts from it.
# Expected failures come back as `error` text; a broken connection is a kj exception.
@0xcf0ae7cdf9fd15e4;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sv::ipc::schema");

using Mgr = import "mgr.capnp";

struct ContainerData {
  id @0 :Text;
  initPid @1 :Int32;          # host pid of the container's init
  initStartTime @2 :UInt64;   # clock ticks since boot (/proc/<pid>/stat field 22)
  range @3 :Mgr.IdRange;
  created @4 :Int64;          # unix nanoseconds
  hostname @5 :Text;
  # The init's cgroups as /proc/<pid>/cgroup lines ("4:memory:/docker/<id>", "0::/x");
  # empty: the daemon reads /proc/<initPid>/cgroup itself.
  cgroupPaths @6 :List(Text);
}

interface Fs {
  # The container is being created: its init exists (pid, start time) and has not run the
  # user process yet. `root` is the host directory of the container's subtree and `binds`
  # the container paths ("/proc/uptime", "/proc/sys") to bind-mount from root + path, files
  # and directories, in an order that is safe to mount in. Registering an id again replaces
  # its data (a restarted init) and keeps its per-container sysctl values.
  register @0 (data :ContainerData) -> (error :Text, root :Text, binds :List(Text));
  # The runtime deleted the container: its subtree and values are gone.
  unregister @1 (id :Text) -> (known :Bool);
  status @2 () -> (mountpoint :Text, containers :List(ContainerData), daemon :Mgr.DaemonInfo);
}
