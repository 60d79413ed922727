#!/usr/bin/env bash
# Build sysvisor and its unit tests with AddressSanitizer and UndefinedBehaviorSanitizer into
# ./build-asan, where the `sanitize` test suite (test/sanitize/) expects it: it runs the unit and
# integration tests against it.
set -euo pipefail
cd "$(dirname "$0")/.."

# -O1 keeps the reports' stacks readable; debug info gives them file:line. gcc warns falsely
# about kj::Maybe under the sanitizers (-Wmaybe-uninitialized in kj/common.h).
BUILD_DIR=build-asan exec bash scripts/build.sh -Db_sanitize=address,undefined -Doptimization=1 \
  -Ddebug=true -Dcpp_args=-Wno-maybe-uninitialized
