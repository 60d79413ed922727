#!/usr/bin/env python3
"""Runs one test program against the ASan+UBSan build (build-san, scripts/sanitize.sh) and fails
if any process of it reported an error, even one whose exit code nobody checked (a daemon, a
runtime child, a relay).

usage: run_sanitized.py <program> [args...]

Every sanitized process writes its reports to a fresh directory (log_path), so reports from
processes whose stderr is a log file or /dev/null are not lost. The test fails when the program
fails or when any report file is there afterwards; the reports are printed.
"""

import os
import shutil
import subprocess
import sys
import tempfile

SAN_BUILD = os.environ.get("SV_SANITIZE_BUILD_DIR", "")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    runtime = os.path.join(SAN_BUILD, "sysvisor")
    if not SAN_BUILD or not os.access(runtime, os.X_OK):
        print(f"run_sanitized: no sanitized build at {SAN_BUILD!r}: run `bash scripts/sanitize.sh` "
              "(the README's test command does)", file=sys.stderr)
        return 1
    # World-writable: the runtime's children and the daemons' helpers may have dropped ids.
    logs = tempfile.mkdtemp(prefix="sv-sanitize-")
    os.chmod(logs, 0o1777)
    env = dict(os.environ)
    common = "halt_on_error=1:print_stacktrace=1"
    env["ASAN_OPTIONS"] = f"{common}:log_path={logs}/asan:detect_leaks=1:abort_on_error=0"
    env["UBSAN_OPTIONS"] = f"{common}:log_path={logs}/ubsan"
    # Reports with function names and lines (llvm-14 is in scripts/deps.sh).
    symbolizer = "/usr/lib/llvm-14/bin/llvm-symbolizer"
    if os.access(symbolizer, os.X_OK):
        env["ASAN_SYMBOLIZER_PATH"] = symbolizer
    env["LSAN_OPTIONS"] = f"suppressions={os.path.dirname(os.path.abspath(__file__))}/lsan.supp"
    try:
        rc = subprocess.call(sys.argv[1:], env=env)
        reports = sorted(os.listdir(logs))
        for name in reports:
            print(f"==== sanitizer report {name}", file=sys.stderr)
            with open(os.path.join(logs, name), errors="replace") as f:
                sys.stderr.write(f.read())
        if reports:
            print(f"run_sanitized: {len(reports)} sanitizer report(s) (above)", file=sys.stderr)
            return 1
        return rc
    finally:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
