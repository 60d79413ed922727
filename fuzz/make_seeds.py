#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ (committed; rerun after changing a seed).

config.json seeds: the specs of test/unit's fixtures, the runtime's default spec (text kept
here, as `sysvisor-runc spec` writes it) and Docker-, Podman- and Kubernetes-shaped variants.
RPC seeds: the text scripts below, `capnp encode`d against fuzz/fuzz_rpc.capnp. Every file is
small (a few KiB at most); libFuzzer keeps what it finds in a temporary directory, never here.
"""
import copy
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def test_specs():
    """The JSON objects written as R"json(...)json" literals in test/unit."""
    out = []
    for f in sorted((ROOT / "test" / "unit").glob("*.cc")):
        for m in re.finditer(r'R"json\((.*?)\)json"', f.read_text(), re.S):
            try:
                if isinstance(json.loads(m.group(1)), dict):
                    out.append((f.stem, m.group(1)))
            except ValueError:
                pass
    return out


def docker_variants(docker):
    """Docker-shaped specs: the flags a system container accepts, refuses or must fix up."""
    v = {}
    d = copy.deepcopy(docker)
    d["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 231072, "size": 65536}]
    d["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 231072, "size": 65536}]
    d["linux"]["namespaces"].append({"type": "user"})
    v["docker_userns_remap"] = d
    d = copy.deepcopy(docker)
    caps = d["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k] = caps[k] + ["CAP_SYS_ADMIN"]
    d["linux"].pop("seccomp")
    d["linux"]["maskedPaths"] = []
    d["linux"]["readonlyPaths"] = []
    v["docker_privileged"] = d
    d = copy.deepcopy(docker)
    d["linux"]["namespaces"] = [n for n in d["linux"]["namespaces"] if n["type"] != "pid"]
    d["linux"]["namespaces"].append({"type": "network", "path": "/proc/1/ns/net"})
    v["docker_host_ns"] = d
    d = copy.deepcopy(docker)
    d["process"]["args"] = ["/sbin/init"]
    d["process"]["env"].append("container=docker")
    d["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=755"]})
    d["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv/data",
                        "options": ["rbind", "ro"],
                        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    d["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    d["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}]
    d["annotations"] = {"io.sysvisor.test": "x"}
    v["docker_systemd"] = d
    d = copy.deepcopy(docker)
    d["hooks"] = {"prestart": [{"path": "/usr/bin/true", "args": ["true"], "timeout": 5}],
                  "createRuntime": [{"path": "/usr/bin/env", "env": ["A=1"]}]}
    d["linux"]["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229,
                              "fileMode": 438, "uid": 0, "gid": 0}]
    d["linux"]["resources"]["memory"] = {"limit": 536870912, "swap": 1073741824}
    d["linux"]["resources"]["cpu"] = {"shares": 512, "quota": 50000, "period": 100000,
                                      "cpus": "0-1"}
    d["linux"]["resources"]["pids"] = {"limit": 1024}
    d["linux"]["timeOffsets"] = {"monotonic": {"secs": 10, "nanosecs": 0}}
    d["linux"]["namespaces"].append({"type": "time"})
    d["process"]["user"] = {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [4, 24]}
    d["process"]["terminal"] = True
    d["process"]["consoleSize"] = {"height": 24, "width": 80}
    d["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    d["process"]["scheduler"] = {"policy": "SCHED_OTHER", "nice": 5}
    d["linux"]["personality"] = {"domain": "LINUX32"}
    d["linux"]["rootfsPropagation"] = "rslave"
    v["docker_everything"] = d
    d = copy.deepcopy(docker)
    d["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount",
                                                       "cgroup")]
    d["linux"]["cgroupsPath"] = "kubepods-besteffort-pod1.slice:cri-containerd:4f2c"
    d["process"]["args"] = ["/pause"]
    d["process"]["user"] = {"uid": 65535, "gid": 65535}
    v["k8s_pause"] = d
    return v


MGR_SCRIPTS = {
    "register_status": """(calls = [
      (register = (id = "alpha", rootfs = "/")),
      (register = (id = "beta", rootfs = "/tmp")),
      (register = (id = "alpha", rootfs = "/")),
      (status = void)])""",
    "stop_start_gone": """(poolBlocks = 2, calls = [
      (register = (id = "c1", rootfs = "/")),
      (unregister = (id = "c1", gone = false)),
      (register = (id = "c1", rootfs = "/")),
      (unregister = (id = "c1", gone = true)),
      (unregister = (id = "nosuch", gone = false)),
      (status = void)])""",
    "exhausted_no_reuse": """(poolBlocks = 1, calls = [
      (register = (id = "only", rootfs = "/")),
      (register = (id = "second", rootfs = "/")),
      (status = void)])""",
    "exhausted_reuse": """(reuse = true, poolBlocks = 1, calls = [
      (register = (id = "a", rootfs = "/")),
      (register = (id = "b", rootfs = "/")),
      (register = (id = "c", rootfs = "/tmp")),
      (unregister = (id = "a", gone = true)),
      (status = void)])""",
    "bad_requests": """(calls = [
      (register = (id = "../x", rootfs = "/")),
      (register = (id = "rel", rootfs = "rootfs")),
      (register = (id = "", rootfs = "")),
      (register = (id = "gone-rootfs", rootfs = "/nonexistent/rootfs/merged")),
      (status = void)])""",
    "loaded_table": """(poolBlocks = 4, table = "{\\"version\\":1,\\"uidStart\\":1000000,\\"gidStart\\":1000000,\\"poolSize\\":262144,\\"cursor\\":1,\\"allocations\\":[{\\"id\\":\\"old\\",\\"uidBase\\":1000000,\\"gidBase\\":1000000,\\"size\\":65536,\\"running\\":false,\\"since\\":1,\\"rootfs\\":\\"/\\",\\"rootfsKey\\":\\"\\",\\"shared\\":false}]}",
      calls = [(register = (id = "old", rootfs = "/")), (register = (id = "new", rootfs = "/")),
               (status = void)])""",
}

FS_SCRIPTS = {
    "register_status": """(calls = [
      (register = (id = "c1", initPid = 1, initStartTime = 0,
                   range = (uidBase = 165536, gidBase = 165536, size = 65536),
                   created = 1700000000000000000, hostname = "c1",
                   cgroupPaths = ["0::/x"])),
      (status = void),
      (unregister = "c1"),
      (status = void)])""",
    "v1_cgroups": """(calls = [
      (register = (id = "4f2c1a9e0b7d", initPid = 1,
                   range = (uidBase = 231072, gidBase = 231072, size = 65536),
                   hostname = "4f2c1a9e0b7d",
                   cgroupPaths = ["12:memory:/x", "3:cpu,cpuacct:/docker/4f2c", "1:name=systemd:/x",
                                  "0::/x"])),
      (register = (id = "4f2c1a9e0b7d", initPid = 1, hostname = "again")),
      (status = void)])""",
    "read_own_cgroup": """(calls = [(register = (id = "self", initPid = 1, hostname = "h"))])""",
    "bad_requests": """(calls = [
      (register = (id = "..", initPid = 1)),
      (register = (id = "x", initPid = 0)),
      (register = (id = "y", initPid = 1, initStartTime = 12345)),
      (register = (id = "z", initPid = 2147483647)),
      (unregister = "nosuch"),
      (status = void)])""",
}


def capnp_encode(struct, text):
    return subprocess.run(
        ["capnp", "encode", "-I", str(ROOT / "src"), str(ROOT / "fuzz" / "fuzz_rpc.capnp"),
         struct], input=text.encode(), check=True, capture_output=True).stdout


def main():
    specs = test_specs()
    docker = next(json.loads(t) for stem, t in specs if stem == "syscont_test")
    for target in ("fuzz_spec", "fuzz_syscont"):
        for i, (stem, text) in enumerate(specs):
            write(target, f"{stem}_{i}.json", text)
        for name, spec in docker_variants(docker).items():
            write(target, f"{name}.json", json.dumps(spec, indent=1))
        default = (ROOT / "fuzz" / "seeds" / "default_spec.json").read_text()
        write(target, "default_spec.json", default)
        write(target, "default_spec_rootless.json",
              (ROOT / "fuzz" / "seeds" / "default_spec_rootless.json").read_text())

    subuid = "root:100000:65536\nalice:165536:65536\n#comment\n\nbob:0x40000:0200000\n"
    defs = ("SUB_UID_MIN\t100000\nSUB_UID_MAX  600100000\nSUB_GID_MIN \"100000\"\n"
            "SUB_GID_MAX 0x23c34600 # x\n")
    write("fuzz_subid", "debian_default", subuid + "\0" + defs + "\0sysvisor")
    write("fuzz_subid", "existing_entry",
          subuid + "sysvisor:268435456:268435456\n\0" + defs + "\0sysvisor")
    write("fuzz_subid", "small_old_entry", subuid + "sysvisor:300000:65536" + "\0\0sysvisor")
    write("fuzz_subid", "full_range",
          "big:0:4294967295\n\0SUB_UID_MIN 0\nSUB_UID_MAX 4294967295\n\0sysvisor")
    write("fuzz_subid", "numeric_names", "1000:100000:65536\n1001:165536:65536\r\n\0\0" + "1002")
    write("fuzz_subid", "empty", "\0\0")

    for path_set, name in ((["/proc/uptime", "/proc/sys/kernel/panic", "/proc", "/", "/sys",
                             "/sys/kernel/debug/", "/sys/devices/virtual/dmi/id/product_uuid",
                             "/proc/sys/net/ipv4/ip_forward"], "common"),
                           (["/proc/sys", "/proc/sysx", "//proc//uptime", "proc/uptime",
                             "/sys/module/nf_conntrack/parameters", "/proc/../proc/stat"],
                            "odd")):
        write("fuzz_fs_lookup", name, b"\0".join(bytes([i]) + p.encode()
                                                 for i, p in enumerate(path_set)))

    for name, text in MGR_SCRIPTS.items():
        write("fuzz_mgr_rpc", name, capnp_encode("MgrScript", text))
    for name, text in FS_SCRIPTS.items():
        write("fuzz_fs_rpc", name, capnp_encode("FsScript", text))
    for target in ("fuzz_spec", "fuzz_syscont", "fuzz_subid", "fuzz_mgr_rpc", "fuzz_fs_rpc",
                   "fuzz_fs_lookup"):
        # An empty regressions directory is kept in git by a .keep file (never an input).
        reg = ROOT / "fuzz" / "regressions" / target
        reg.mkdir(parents=True, exist_ok=True)
        if any(p.name != ".keep" for p in reg.iterdir()):
            (reg / ".keep").unlink(missing_ok=True)
        else:
            (reg / ".keep").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
