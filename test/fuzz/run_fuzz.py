#!/usr/bin/env python3
"""Runs one libFuzzer target of build-san (scripts/sanitize.sh builds it) for the fuzz suite.

First every input of fuzz/regressions/<target>/ (crashes found before: each must pass now),
then fuzzing for a bounded time on the seeds of fuzz/corpus/<target>/. New corpus entries go to
a temporary directory, never into the repository; the seed and regression directories are only
read. Prints the executions run. A crash fails the test and leaves its input where the message
says (copy it into fuzz/regressions/<target>/ once the bug is fixed).

Environment: FUZZ_BUILD_DIR (default <source>/build-san), FUZZ_TIME (seconds, default 40).
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile


def fail(msg):
    print(f"run_fuzz: {msg}", file=sys.stderr)
    sys.exit(1)


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--time", type=int, default=40)
    ap.add_argument("--rss-limit-mb", type=int, default=2048)
    ap.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    args = ap.parse_args()

    src = pathlib.Path(args.source_root)
    build = pathlib.Path(os.environ.get("FUZZ_BUILD_DIR", "build-san"))
    if not build.is_absolute():
        build = src / build
    binary = build / "fuzz" / args.target
    if not os.access(binary, os.X_OK):
        fail(f"{binary} is missing: build the fuzz targets first with scripts/sanitize.sh "
             f"(FUZZ_BUILD_DIR={build})")
    seeds = src / "fuzz" / "corpus" / args.target
    regressions = src / "fuzz" / "regressions" / args.target
    if not seeds.is_dir():
        fail(f"no seed corpus at {seeds}")
    seconds = int(os.environ.get("FUZZ_TIME", args.time))
    limits = [f"-rss_limit_mb={args.rss_limit_mb}", f"-timeout={args.timeout}"]
    env = dict(os.environ)
    # Leaks are findings; a UBSan report aborts (the build also says -fno-sanitize-recover).
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:symbolize=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    # The targets' scratch files (tables, stores, node logs: rewritten and fsynced for every
    # input) on tmpfs when there is one: the disk would cost half the executions.
    if os.access("/dev/shm", os.W_OK):
        env["TMPDIR"] = "/dev/shm"

    work = pathlib.Path(tempfile.mkdtemp(prefix=f"sv-{args.target}."))
    keep = False
    try:
        inputs = sorted(p for p in regressions.glob("*") if p.is_file() and p.name != ".keep")
        if inputs:
            r = subprocess.run([str(binary), *limits, *map(str, inputs)], env=env, cwd=work,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace")
            if r.returncode != 0:
                print(tail(r.stdout))
                fail(f"{args.target}: a regression input fails again "
                     f"({len(inputs)} in {regressions})")
            print(f"{args.target}: {len(inputs)} regression inputs pass")

        corpus = work / "corpus"
        corpus.mkdir()
        cmd = [str(binary), *limits, f"-max_total_time={seconds}", "-print_final_stats=1",
               f"-artifact_prefix={work}/", str(corpus), str(seeds)]
        if inputs:
            cmd.append(str(regressions))
        r = subprocess.run(cmd, env=env, cwd=work, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stdout)
        done = re.search(r"^#(\d+)\s+DONE", r.stdout, re.M)
        runs = m.group(1) if m else (done.group(1) if done else "?")
        new = sum(1 for _ in corpus.iterdir())
        if r.returncode != 0:
            keep = True
            artifacts = [str(p) for p in work.glob("*") if p.is_file()]
            print(tail(r.stdout, 120))
            fail(f"{args.target}: fuzzing failed (exit {r.returncode}) after {runs} "
                 f"executions; the input: {', '.join(artifacts) or '(none written)'}; reproduce "
                 f"with {binary} <input>, fix, then add the input to {regressions}/")
        print(tail(r.stdout, 8))
        print(f"{args.target}: {runs} executions in {seconds} s, {new} new corpus inputs "
              f"(discarded), no crash")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
