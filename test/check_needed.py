#!/usr/bin/env python3
"""The runtime loads nothing but libc: every shared library it NEEDs is mapped and relocated at
each start of every container command (libm alone cost ~0.35 MiB of peak RSS, bisected in
issue 3). libstdc++, libgcc, libseccomp and fmt are linked statically on purpose."""

import subprocess
import sys

ALLOWED = {"libc.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}

binary = sys.argv[1]
out = subprocess.run(["readelf", "-dW", binary], capture_output=True, text=True, check=True).stdout
needed = {line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line}
extra = sorted(needed - ALLOWED)
print(f"{binary}: NEEDED {sorted(needed)}")
if extra:
    sys.exit(f"unexpected shared libraries (link them statically or drop the use): {extra}")
