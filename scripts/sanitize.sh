#!/usr/bin/env bash
# One clang build with AddressSanitizer and UndefinedBehaviorSanitizer in ./build-san, for two
# suites: `sanitize` runs the unit and integration tests against its sysvisor and unit tests
# (test/sanitize/), `fuzz` runs its libFuzzer targets (fuzz/, test/fuzz/). All of our code gets
# libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link; outside a fuzz target its
# hooks are the sanitizer runtime's no-ops); the targets link libFuzzer itself.
# -O0: a third of the compile time of -O1 under the sanitizers (the suites' run time is the
# kernel's, and 40 s of fuzzing still runs thousands of inputs). UBSan findings abort.
set -euo pipefail
cd "$(dirname "$0")/.."

# meson puts ccache in front of the compilers only when it picks them itself.
launcher=
if command -v ccache > /dev/null; then launcher="ccache "; fi
export CC="${launcher}clang-14" CXX="${launcher}clang++-14"

# Only what the two suites run: not the static programs copied into containers (a sanitized
# static binary cannot link), which the suites take from the main build.
BUILD_DIR=build-san BUILD_TARGETS="sanitize-targets fuzz-targets" exec bash scripts/build.sh \
  -Dfuzz=true -Dtests=true -Db_sanitize=address,undefined -Db_lundef=false \
  "-Dcpp_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" \
  -Doptimization=0 -Ddebug=false -Db_ndebug=false
