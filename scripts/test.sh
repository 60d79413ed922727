#!/usr/bin/env bash
# Install dependencies, build, and run every test suite (unit + integration). Needs root:
# the integration tests create real containers. Exit code is meson test's.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR

bash scripts/deps.sh
bash scripts/build.sh

set +e
meson test -C "$BUILD_DIR" --print-errorlogs "$@"
rc=$?
set -e
exit "$rc"
