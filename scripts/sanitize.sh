#!/usr/bin/env bash
# Build sysvisor and its unit tests with AddressSanitizer and UndefinedBehaviorSanitizer into
# ./build-asan, where the `sanitize` test suite (test/sanitize/) expects it: it runs the unit and
# integration tests against it.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=build-asan
# -O1 keeps the reports' stacks readable; debug info gives them file:line.
# gcc warns falsely about kj::Maybe under the sanitizers (-Wmaybe-uninitialized in kj/common.h).
opts=(-Db_sanitize=address,undefined -Doptimization=1 -Ddebug=true -Dcpp_args=-Wno-maybe-uninitialized)
if [[ -f $DIR/meson-private/coredata.dat ]]; then
  meson setup --reconfigure "${opts[@]}" "$DIR"
else
  if [[ -d $DIR/meson-private || -d $DIR/meson-logs ]]; then
    rm -rf "$DIR"
  fi
  meson setup "${opts[@]}" "$DIR"
fi
ninja -C "$DIR"
