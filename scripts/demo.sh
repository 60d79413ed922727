#!/usr/bin/env bash
# Quick start: install dependencies, build and install sysvisor, prepare a busybox OCI bundle and
# run one container in the foreground. Needs root. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR
DEMO_DIR=${DEMO_DIR:-/var/lib/sysvisor-demo}

echo "==> dependencies"
bash scripts/deps.sh
echo "==> build"
bash scripts/build.sh
echo "==> install (/usr/local/bin/sysvisor, sysvisor-runc, sysvisor-fs, sysvisor-mgr)"
meson install -C "$BUILD_DIR" --quiet

# Use the binary just installed, whatever PATH says.
RUNC=/usr/local/bin/sysvisor-runc

echo "==> bundle in $DEMO_DIR"
# The rootfs is rebuilt from scratch each time; nothing outside $DEMO_DIR is touched.
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"/rootfs/{bin,etc,dev,proc,sys,tmp,root}
chmod 1777 "$DEMO_DIR/rootfs/tmp"
install -m 0755 /bin/busybox "$DEMO_DIR/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -s busybox "$DEMO_DIR/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$DEMO_DIR/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$DEMO_DIR/rootfs/etc/group"

(cd "$DEMO_DIR" && "$RUNC" spec)
python3 - "$DEMO_DIR/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = [
    "sh", "-c", "echo hello from a sysvisor container; cat /proc/self/uid_map; hostname"]
spec["hostname"] = "sysvisor-demo"
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY

id="demo-$$"
# If the run is interrupted, do not leave the container behind.
trap '"$RUNC" delete --force "$id" >/dev/null 2>&1 || true' EXIT
echo "==> sysvisor-runc run --bundle $DEMO_DIR $id"
"$RUNC" run --bundle "$DEMO_DIR" "$id"
