#!/usr/bin/env bash
# Configure (or reconfigure) and build sysvisor in ./build (override with BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}

if [[ -f $BUILD_DIR/meson-private/coredata.dat ]]; then
  meson setup --reconfigure "$BUILD_DIR"
else
  # A half-configured directory (a failed first setup) cannot be reconfigured: start over, but
  # only remove a directory that meson made.
  if [[ -d $BUILD_DIR/meson-private || -d $BUILD_DIR/meson-logs ]]; then
    rm -rf "$BUILD_DIR"
  fi
  meson setup "$BUILD_DIR"
fi
ninja -C "$BUILD_DIR"
