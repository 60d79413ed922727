# sysvisor-runc ↔ sysvisor-mgr (socket /run/sysvisor/mgr.sock). Expected failures (a full id
# pool, a bad argument) come back as `error` text; a broken connection is a kj exception.
@0xa694acb79b89716c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sv::ipc::schema");

struct IdRange {
  uidBase @0 :UInt32;
  gidBase @1 :UInt32;
  size @2 :UInt32;
}

struct ContainerInfo {
  id @0 :Text;
  range @1 :IdRange;
  running @2 :Bool;     # false: stopped, the range is kept until the container is gone
  since @3 :Int64;      # unix seconds when the current state began
  rootfs @4 :Text;
  shared @5 :Bool;      # handed out by the reuse policy while the pool was exhausted
}

struct PoolInfo {
  uidStart @0 :UInt32;
  gidStart @1 :UInt32;
  size @2 :UInt64;
  policy @3 :Text;      # "reuse" or "no-reuse"
  blocksInUse @4 :UInt32;
  blocks @5 :UInt32;
}

# Who answers: for `status` (daemon health).
struct DaemonInfo {
  version @0 :Text;
  pid @1 :Int32;
  started @2 :Int64;    # unix seconds
}

interface Mgr {
  # A container is being created: its exclusive range (the same one again for an id that
  # was stopped). rootfs is absolute; once it is gone, the range is freed.
  # fresh: the range was allocated by this call (a create that fails then frees it again).
  # store, containerdStore: the container's directories for inner container engines' data
  # (bound at /var/lib/docker and /var/lib/containerd inside), owned by the range's root;
  # they live as long as the range.
  register @0 (id :Text, rootfs :Text) -> (range :IdRange, fresh :Bool, warning :Text,
                                           error :Text, store :Text, containerdStore :Text);
  # The container was deleted by the runtime (gone = false: it may start again with the same
  # id, as after `docker stop`; gone = true: free its range now).
  unregister @1 (id :Text, gone :Bool) -> (known :Bool);
  status @2 () -> (pool :PoolInfo, containers :List(ContainerInfo), daemon :DaemonInfo);
}
