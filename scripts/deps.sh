#!/usr/bin/env bash
# Install everything needed to build and test sysvisor on Debian 12 (bookworm).
# Idempotent: when every package is already installed, apt is not touched at all.
set -euo pipefail

PACKAGES=(
  # build
  build-essential g++ meson ninja-build pkg-config clang-14 libclang-rt-14-dev llvm-14
  capnproto libcapnp-dev libasio-dev libfuse3-dev fuse3 libfmt-dev libcxxopts-dev
  libcap-dev libseccomp-dev nlohmann-json3-dev catch2
  # tests and bench
  busybox-static python3 runc crun util-linux mount procps iproute2 time dbus-daemon bsdutils
  # e2e: the real clients, and debootstrap for the local Debian image
  docker.io containerd podman debootstrap tmux
  # the Debian package and its checks
  debhelper lintian
)

if [[ $(id -u) -ne 0 ]]; then
  echo "deps.sh: must run as root (apt-get install)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps.sh: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Lists may be empty (fresh image) or stale (candidate versions gone from the mirror): refresh
# them whenever something has to be installed.
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
