#!/usr/bin/env bash
# Quick start: install dependencies, build and install sysvisor, run one container from a busybox
# OCI bundle with sysvisor-runc itself, then register sysvisor-runc with Docker (starting dockerd
# if none runs), build a local Debian image and `docker run --runtime sysvisor-runc` it.
# Needs root. Safe to rerun.
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
MGR=/usr/local/bin/sysvisor-mgr

# sysvisor-runc asks sysvisor-mgr for every system container's exclusive id range and
# registers it with sysvisor-fs (its /proc and /sys emulation). A daemon already running is
# restarted so it is the binary just installed (mgr keeps its table; fs serves its running
# containers again).
start_daemon() {
  local name=$1 bin=/usr/local/bin/$1 pidfile=$2
  echo "==> $name (log: /var/log/$name.log)"
  if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    # sysvisor.service starts both daemons at boot (each is WantedBy and PartOf it).
    systemctl enable sysvisor.service "$name.service" >/dev/null 2>&1 || true
    systemctl restart "$name.service"
  else
    if [[ -f $pidfile ]] && "$bin" status >/dev/null 2>&1; then
      local old
      old=$(cat "$pidfile")
      kill -TERM "$old" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    fi
    setsid nohup "$bin" >/dev/null 2>&1 </dev/null &
  fi
  for _ in $(seq 100); do "$bin" status >/dev/null 2>&1 && break; sleep 0.1; done
  "$bin" status >/dev/null || { echo "$name did not start; see /var/log/$name.log" >&2; exit 1; }
}
start_daemon sysvisor-mgr /run/sysvisor/mgr.pid
start_daemon sysvisor-fs /run/sysvisor/fs/fs.pid

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
    "sh", "-c", "echo hello from a sysvisor container; cat /proc/self/uid_map; hostname;"
    " echo \"up $(cut -d' ' -f1 /proc/uptime) s (its own uptime, from sysvisor-fs)\""]
spec["hostname"] = "sysvisor-demo"
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
PY

id="demo-$$"
# If the run is interrupted, do not leave the container behind.
trap '"$RUNC" delete --force "$id" >/dev/null 2>&1 || true' EXIT
echo "==> sysvisor-runc run --bundle $DEMO_DIR $id"
"$RUNC" run --bundle "$DEMO_DIR" "$id"

echo "==> Docker: register sysvisor-runc in /etc/docker/daemon.json (other keys kept)"
python3 scripts/register_runtime.py --config /etc/docker/daemon.json --path "$RUNC" --reload
DOCKER=/usr/bin/docker
if ! "$DOCKER" info >/dev/null 2>&1; then
  # No bridge and no iptables rules: containers here run with --network none.
  echo "==> starting dockerd --bridge=none --iptables=false (log: /var/log/sysvisor-dockerd.log)"
  nohup dockerd --bridge=none --iptables=false >>/var/log/sysvisor-dockerd.log 2>&1 &
  for _ in $(seq 120); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
  "$DOCKER" info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/sysvisor-dockerd.log" >&2; exit 1; }
fi
"$DOCKER" info --format '{{json .Runtimes}}' | grep -q '"sysvisor-runc"' || {
  echo "the running dockerd does not know sysvisor-runc: restart it (it may use another config file)" >&2
  exit 1
}

IMAGE=sysvisor-demo/debian:bookworm
if ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  # No registry is reachable: a minimal Debian made with debootstrap, cached as a tarball.
  CACHE=/var/cache/sysvisor
  TAR=$CACHE/debian-bookworm-minbase.tar
  if [[ ! -f $TAR ]]; then
    echo "==> debootstrap --variant=minbase bookworm (a few minutes, once)"
    mkdir -p "$CACHE"
    tree=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
    debootstrap --variant=minbase bookworm "$tree" http://deb.debian.org/debian >/dev/null
    rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*_*
    tar --numeric-owner -C "$tree" -cf "$TAR.part" .
    mv "$TAR.part" "$TAR"
    rm -rf "$tree"
  fi
  echo "==> docker import $IMAGE"
  "$DOCKER" import --change 'CMD ["/bin/bash"]' "$TAR" "$IMAGE" >/dev/null
fi

echo "==> docker run --rm --runtime sysvisor-runc --network none --memory 256m $IMAGE"
"$DOCKER" run --rm --runtime sysvisor-runc --network none --memory 256m "$IMAGE" \
  bash -c '. /etc/os-release; echo "hello from $PRETTY_NAME in a sysvisor container"
    hostname; grep MemTotal /proc/meminfo'
echo "==> sysvisor-mgr status"
"$MGR" status
echo "==> sysvisor-fs status"
/usr/local/bin/sysvisor-fs status
echo "==> try: docker run --rm -it --runtime sysvisor-runc --network none $IMAGE"
