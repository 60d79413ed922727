#!/usr/bin/env bash
# Builds the Debian package (dpkg-buildpackage -us -uc -b) from a copy of this tree, so that
# nothing it writes (debian/sysvisor, obj-*, ../*.deb) lands in the checkout. The .deb, .changes
# and .buildinfo go to ./build-deb (override with DEB_DIR). Needs debhelper (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_DIR=${DEB_DIR:-build-deb}
mkdir -p "$DEB_DIR"
DEB_DIR=$(cd "$DEB_DIR" && pwd)
work=$(mktemp -d "$DEB_DIR/src.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The sources: tracked and untracked files, without build output or version control.
mkdir "$work/sysvisor"
tar --exclude=./.git --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$work/sysvisor" -xf -
rm -f "$DEB_DIR"/sysvisor_* "$DEB_DIR"/sysvisor-dbgsym_*
(cd "$work/sysvisor" && DEB_BUILD_OPTIONS="parallel=$(nproc) nocheck" \
  dpkg-buildpackage -us -uc -b >"$DEB_DIR/build.log" 2>&1) || {
  tail -40 "$DEB_DIR/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed; the whole log is $DEB_DIR/build.log" >&2
  exit 1
}
mv "$work"/sysvisor_* "$work"/sysvisor-dbgsym_* "$DEB_DIR"/
ls "$DEB_DIR"/sysvisor_*.deb
