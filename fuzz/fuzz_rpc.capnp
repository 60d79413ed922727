# The inputs of the RPC fuzz targets: a script of requests to one service, read from the fuzz
# bytes as a Cap'n Proto message (strict reader limits) and sent through a local capability.
# The request structs are the schema's own (ipc/*.capnp); seeds are `capnp encode`d from
# fuzz/seeds/*.txt by fuzz/make_seeds.sh.
@0x8d66512a82b10b64;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sv::fuzz::schema");

using Fs = import "/ipc/fs.capnp";

struct MgrCall {
  union {
    register :group {
      id @0 :Text;
      rootfs @1 :Text;
    }
    unregister :group {
      id @2 :Text;
      gone @3 :Bool;
    }
    status @4 :Void;
  }
}

struct MgrScript {
  # The daemon's table at start (ids.json as it loads it); empty: a fresh table.
  table @0 :Text;
  reuse @1 :Bool;          # --subid-policy reuse (default no-reuse)
  poolBlocks @2 :UInt8;    # blocks of 65536 ids in the pool (1..16; 0 means 4)
  calls @3 :List(MgrCall);
}

struct FsCall {
  union {
    register @0 :Fs.ContainerData;
    unregister @1 :Text;
    status @2 :Void;
  }
}

struct FsScript {
  calls @0 :List(FsCall);
}
