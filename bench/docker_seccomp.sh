#!/bin/bash
# Captures the seccomp profile Docker really puts into a default container's config.json on
# this machine, and caches it in bench/results/docker-default-seccomp.json (gitignored: the
# profile is generated here, never committed or copied from a repository).
#
# How: a tiny runtime that copies the bundle's config.json and then execs runc is registered
# with dockerd; `docker run --rm --network none --runtime svbench-dump` of a busybox image
# imported from busybox-static goes through it; `.linux.seccomp` of the copy is the profile.
#
#   bench/docker_seccomp.sh             prints the cached file's path, capturing it if absent
#   bench/docker_seccomp.sh --refresh   captures it again
#
# Needs root, docker.io (apt-get install -y docker.io), busybox-static, runc, python3.
# The path is the last line on stdout; progress goes to stderr.
#
# The dockerd used:
# - none running: a private one started here (`dockerd --bridge=none --iptables=false
#   --add-runtime svbench-dump=...`, its own socket, data-root and exec-root in a temp dir),
#   stopped and removed at the end. Nothing of the host's docker setup is touched.
# - one answering on DOCKER_HOST or the default socket: reused. The runtime is registered for
#   the capture only: merged into its daemon config file (--config-file or
#   /etc/docker/daemon.json), reloaded with SIGHUP; on exit the runtime is unregistered with
#   another reload and the file restored byte for byte (or removed if there was none). A
#   daemon whose --add-runtime flags conflict with a "runtimes" key refuses the reload: then
#   nothing is captured and nothing changes.
# Either way the container (svbench-seccomp-<pid>) and the image (svbench-busybox:seccomp-<pid>)
# are removed on every exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${SVBENCH_SECCOMP_OUT:-$BENCH_DIR/results/docker-default-seccomp.json}
RUNTIME_NAME=svbench-dump
TAG=seccomp-$$
IMAGE=svbench-busybox:$TAG
CONTAINER=svbench-seccomp-$$

log() { echo "docker_seccomp: $*" >&2; }
die() { log "$*"; exit 1; }

refresh=0
case "${1:-}" in
  "") ;;
  --refresh) refresh=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

if [[ $refresh == 0 && -s $OUT ]]; then
  log "cached profile (bench/docker_seccomp.sh --refresh captures it again):"
  echo "$OUT"
  exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root"
# Prefer Debian's client (same version as its dockerd) over any other docker in PATH.
DOCKER=${DOCKER:-$(test -x /usr/bin/docker && echo /usr/bin/docker || command -v docker || true)}
DOCKERD=${DOCKERD:-$(command -v dockerd || echo /usr/sbin/dockerd)}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
BUSYBOX=$(command -v busybox || echo /bin/busybox)
for tool in "$DOCKER" "$DOCKERD" "$RUNC" "$BUSYBOX"; do
  [[ -x $tool ]] || die "'$tool' not found: apt-get install -y docker.io busybox-static"
done
command -v python3 >/dev/null || die "python3 not found"

TMP=$(mktemp -d /tmp/svbench-docker.XXXXXX)
chmod 755 "$TMP"
DUMP=$TMP/config.json           # written by the dumping runtime
DOCKER_ARGS=()                  # -H of a private daemon
own_pid=""                      # our dockerd, if we started one
reused_pid=""                   # the daemon we reconfigured, if any
config_file=""; config_backup=""; config_existed=0; config_dir_created=0; registered=0
run_containerd_existed=0; [[ -e /run/containerd ]] && run_containerd_existed=1

docker_() { "$DOCKER" "${DOCKER_ARGS[@]}" "$@"; }

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM HUP
  if [[ -n $own_pid || -n $reused_pid ]]; then
    docker_ rm -f "$CONTAINER" >/dev/null 2>&1
    docker_ rmi -f "$IMAGE" >/dev/null 2>&1
  fi
  if [[ $registered == 1 ]]; then
    # dockerd's reload only replaces its runtimes when the file names "runtimes": so first the
    # original file with its own "runtimes" (or none), reloaded, then the original bytes back.
    python3 - "$config_file" "$RUNTIME_NAME" <<'PY'
import json, sys
path, name = sys.argv[1:]
with open(path) as f:
    conf = json.load(f)
conf.get("runtimes", {}).pop(name, None)
conf.setdefault("runtimes", {})
with open(path, "w") as f:
    json.dump(conf, f, indent=2)
PY
    kill -HUP "$reused_pid" 2>/dev/null
    for _ in $(seq 100); do
      docker_ info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"$RUNTIME_NAME\"" || break
      sleep 0.1
    done
    docker_ info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"$RUNTIME_NAME\"" &&
      log "WARNING: dockerd $reused_pid still lists runtime $RUNTIME_NAME (gone at its next restart)"
    if [[ $config_existed == 1 ]]; then
      cat "$config_backup" >"$config_file"
    else
      rm -f "$config_file"
      [[ $config_dir_created == 1 ]] && rmdir "$(dirname "$config_file")" 2>/dev/null
    fi
    log "restored $config_file; runtime $RUNTIME_NAME unregistered from dockerd $reused_pid"
  fi
  if [[ -n $own_pid ]]; then
    kill -TERM "$own_pid" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$own_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$own_pid" 2>/dev/null; then
      log "dockerd $own_pid did not stop within 30 s: killing it"
      kill -KILL "$own_pid" 2>/dev/null
    fi
    wait "$own_pid" 2>/dev/null
    # Its managed containerd should be gone with it; its pid file tells if not.
    local cpid
    cpid=$(cat "$TMP/exec/containerd/containerd.pid" 2>/dev/null) &&
      kill -0 "$cpid" 2>/dev/null && kill -TERM "$cpid" 2>/dev/null
    log "stopped the private dockerd"
  fi
  # Nothing may stay mounted under the temp dir before it is removed (deepest first).
  grep -F " $TMP/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  rm -rf --one-file-system "$TMP"
  # containerd's shim sockets live under /run/containerd/s whatever its state dir.
  if [[ $run_containerd_existed == 0 && -d /run/containerd ]]; then
    rmdir /run/containerd/s /run/containerd 2>/dev/null
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the dumping runtime: copies config.json of the first create/run, then is runc ----------
cat >"$TMP/$RUNTIME_NAME" <<EOF
#!/bin/sh
bundle=.; cmd=""; prev=""
for a in "\$@"; do
  case "\$prev" in --bundle|-b) bundle=\$a ;; esac
  case "\$a" in --bundle=*) bundle=\${a#--bundle=} ;; create|run) [ -z "\$cmd" ] && cmd=\$a ;; esac
  prev=\$a
done
if [ -n "\$cmd" ] && [ ! -e "$DUMP" ] && [ -f "\$bundle/config.json" ]; then
  cp "\$bundle/config.json" "$DUMP.tmp" && mv "$DUMP.tmp" "$DUMP"
fi
exec "$RUNC" "\$@"
EOF
chmod 755 "$TMP/$RUNTIME_NAME"

# --- a dockerd: reuse a running one, else start a private one -------------------------------
if "$DOCKER" info >/dev/null 2>&1; then
  pids=$(pgrep -x dockerd || true)
  [[ $(wc -w <<<"$pids") == 1 ]] ||
    die "a docker daemon answers but there is not exactly one dockerd process ($pids): not touching it"
  reused_pid=$pids
  config_file=/etc/docker/daemon.json
  mapfile -d '' cmdline <"/proc/$reused_pid/cmdline"
  for i in "${!cmdline[@]}"; do
    case "${cmdline[$i]}" in
      --config-file) config_file=${cmdline[$((i + 1))]} ;;
      --config-file=*) config_file=${cmdline[$i]#--config-file=} ;;
    esac
  done
  log "reusing the running dockerd $reused_pid; registering $RUNTIME_NAME in $config_file until exit"
  if [[ -e $config_file ]]; then
    config_existed=1
    config_backup=$TMP/daemon.json.orig
    cp -p "$config_file" "$config_backup"
  elif [[ ! -d $(dirname "$config_file") ]]; then
    mkdir -p "$(dirname "$config_file")"
    config_dir_created=1
  fi
  registered=1
  python3 - "$config_file" "$RUNTIME_NAME" "$TMP/$RUNTIME_NAME" <<'PY'
import json, os, sys
path, name, runtime = sys.argv[1:]
conf = {}
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as f:
        conf = json.load(f)
conf.setdefault("runtimes", {})[name] = {"path": runtime}
with open(path + ".svbench-tmp", "w") as f:
    json.dump(conf, f, indent=2)
os.replace(path + ".svbench-tmp", path)
PY
  [[ $config_existed == 1 ]] && chmod --reference="$config_backup" "$config_file"
  kill -HUP "$reused_pid"
  for _ in $(seq 100); do
    docker_ info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"$RUNTIME_NAME\"" && break
    sleep 0.1
  done
  docker_ info --format '{{json .Runtimes}}' | grep -q "\"$RUNTIME_NAME\"" ||
    die "dockerd $reused_pid did not pick up the runtime after SIGHUP (see its log)"
else
  log "no dockerd answers: starting a private one (data and sockets under $TMP)"
  mkdir -p "$TMP/data" "$TMP/exec"
  echo '{}' >"$TMP/daemon.json"   # not the host's /etc/docker/daemon.json
  DOCKER_ARGS=(-H "unix://$TMP/docker.sock")
  "$DOCKERD" --bridge=none --iptables=false --ip6tables=false \
    --add-runtime "$RUNTIME_NAME=$TMP/$RUNTIME_NAME" \
    -H "unix://$TMP/docker.sock" --data-root "$TMP/data" --exec-root "$TMP/exec" \
    --pidfile "$TMP/dockerd.pid" --config-file "$TMP/daemon.json" \
    >"$TMP/dockerd.log" 2>&1 &
  own_pid=$!
  for _ in $(seq 600); do
    docker_ info >/dev/null 2>&1 && break
    kill -0 "$own_pid" 2>/dev/null || { tail -20 "$TMP/dockerd.log" >&2; die "dockerd exited"; }
    sleep 0.1
  done
  docker_ info >/dev/null 2>&1 || { tail -20 "$TMP/dockerd.log" >&2; die "dockerd did not come up in 60 s"; }
fi
log "dockerd $(docker_ version --format '{{.Server.Version}}'), default runtime runc $("$RUNC" --version | sed -n '1s/.*version //p')"

# --- image, container, profile ---------------------------------------------------------------
rootfs=$TMP/rootfs
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,etc,root}
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
tar -C "$rootfs" -c . | docker_ import - "$IMAGE" >/dev/null
docker_ run --rm --network none --runtime "$RUNTIME_NAME" --name "$CONTAINER" "$IMAGE" /bin/true
[[ -s $DUMP ]] || die "the dumping runtime saw no create: no config.json captured"

mkdir -p "$(dirname "$OUT")"
python3 - "$DUMP" "$OUT" <<'PY'
import json, os, sys
src, out = sys.argv[1:]
with open(src) as f:
    seccomp = json.load(f).get("linux", {}).get("seccomp")
if not seccomp or not seccomp.get("syscalls"):
    sys.exit("docker_seccomp: the captured config.json has no linux.seccomp")
with open(out + ".tmp", "w") as f:
    json.dump(seccomp, f, indent=1)
    f.write("\n")
os.replace(out + ".tmp", out)
n = sum(len(r.get("names", [])) for r in seccomp["syscalls"])
print(f"docker_seccomp: defaultAction {seccomp.get('defaultAction')}, "
      f"{len(seccomp['syscalls'])} rules naming {n} syscalls, "
      f"architectures {','.join(seccomp.get('architectures', []))}", file=sys.stderr)
PY
echo "$OUT"
