#!/usr/bin/env bash
# Configure (or reconfigure) and build sysvisor in ./build (override with BUILD_DIR).
# usage: build.sh [meson options...]; BUILD_TARGETS limits what ninja builds (default: all).
# scripts/sanitize.sh builds its directory through this too.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}

if [[ -f $BUILD_DIR/meson-private/coredata.dat ]]; then
  meson setup --reconfigure "$@" "$BUILD_DIR"
else
  # A half-configured directory (a failed first setup) cannot be reconfigured: start over, but
  # only remove a directory that meson made.
  if [[ -d $BUILD_DIR/meson-private || -d $BUILD_DIR/meson-logs ]]; then
    rm -rf "$BUILD_DIR"
  fi
  meson setup "$@" "$BUILD_DIR"
fi
# shellcheck disable=SC2086  # a list of targets
ninja -C "$BUILD_DIR" ${BUILD_TARGETS:-}
