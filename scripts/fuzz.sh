#!/usr/bin/env bash
# Configure (or reconfigure) and build the libFuzzer targets of fuzz/ in ./build-fuzz (override
# with FUZZ_BUILD_DIR): clang, ASan + UBSan, coverage instrumentation on all of our code. The
# fuzz suite (meson test --suite fuzz, from any build dir) runs what this builds.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
# meson puts ccache in front of the compilers only when it picks them itself.
launcher=
if command -v ccache > /dev/null; then launcher="ccache "; fi
export CC=${CC:-"${launcher}clang-14"} CXX=${CXX:-"${launcher}clang++-14"}

# Our libraries get coverage (and comparison tracing) without libFuzzer's main; the targets
# link libFuzzer itself (fuzz/meson.build). UBSan findings abort, so the fuzzer sees them.
options=(
  -Dfuzz=true -Dtests=false
  -Db_sanitize=address,undefined -Db_lundef=false
  "-Dcpp_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined"
  -Doptimization=1 -Ddebug=true -Db_ndebug=false
)

# Only the targets (and the libraries they link), not the ASan build of the sysvisor binary.
BUILD_TARGETS=fuzz-targets BUILD_DIR=$BUILD_DIR exec bash scripts/build.sh "${options[@]}"
