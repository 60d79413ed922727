#!/usr/bin/env bash
# Install dependencies, build (and the Debian package), and run every test suite. Needs root:
# the integration tests create real containers. Exit code is meson test's.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR

bash scripts/deps.sh
bash scripts/build.sh
# The Debian package, for the `package` test and the install test (test_deb_install). A failed
# build fails those tests (no package), not the whole run.
bash scripts/package.sh || echo "test.sh: the Debian package did not build (see build-deb/build.log)" >&2
# The ASan+UBSan build (clang) the `sanitize` and `fuzz` suites run. A failed build fails those
# suites (their programs are missing), not the whole run.
bash scripts/sanitize.sh > "$BUILD_DIR/sanitize-build.log" 2>&1 ||
  { tail -n 30 "$BUILD_DIR/sanitize-build.log"; echo "test.sh: the sanitized build failed (see above)" >&2; }

set +e
meson test -C "$BUILD_DIR" --print-errorlogs "$@"
rc=$?
set -e
exit "$rc"
