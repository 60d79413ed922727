#!/usr/bin/env python3
"""Registers sysvisor-runc with Docker: adds (or updates) one entry under "runtimes" in a
daemon.json, keeping every other key and runtime as it was.

  python3 scripts/register_runtime.py [--config /etc/docker/daemon.json] [--name sysvisor-runc]
                                      [--path /usr/local/bin/sysvisor-runc] [--reload]

The file is replaced atomically (same mode, a `.sysvisor.bak` copy of the old one is kept); an
unreadable or non-object file is refused with a message instead of being overwritten. --reload
sends SIGHUP to a running dockerd (it re-reads "runtimes" without a restart).
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile


class ConfigError(Exception):
    pass


def register_docker(config_path, name, runtime_path):
    """Returns True when the file changed."""
    try:
        with open(config_path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    try:
        config = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise ConfigError(f"{config_path} is not valid JSON ({e}); fix or remove it, then rerun")
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path} does not hold a JSON object; fix it, then rerun")
    runtimes = config.setdefault("runtimes", {})
    if not isinstance(runtimes, dict):
        raise ConfigError(f'"runtimes" in {config_path} is not an object; fix it, then rerun')
    entry = runtimes.get(name)
    wanted = dict(entry) if isinstance(entry, dict) else {}
    wanted["path"] = runtime_path
    if entry == wanted:
        return False
    runtimes[name] = wanted
    directory = os.path.dirname(os.path.abspath(config_path))
    os.makedirs(directory, exist_ok=True)
    mode = 0o644
    if text:
        mode = os.stat(config_path).st_mode & 0o7777
        shutil.copy2(config_path, config_path + ".sysvisor.bak")
    fd, tmp = tempfile.mkstemp(prefix=".daemon.json.", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, config_path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def running_dockerd():
    """Pids of running dockerd processes."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "dockerd":
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def main():
    ap = argparse.ArgumentParser(description="Register sysvisor-runc in Docker's daemon.json")
    ap.add_argument("--config", default="/etc/docker/daemon.json")
    ap.add_argument("--name", default="sysvisor-runc")
    ap.add_argument("--path", default="/usr/local/bin/sysvisor-runc")
    ap.add_argument("--reload", action="store_true",
                    help="SIGHUP running dockerd processes so they pick it up")
    args = ap.parse_args()
    try:
        changed = register_docker(args.config, args.name, args.path)
    except (ConfigError, OSError) as e:
        sys.exit(f"register_runtime: {e}")
    print(f"register_runtime: {args.name} -> {args.path} "
          f"{'added to' if changed else 'already in'} {args.config}")
    if changed and args.reload:
        for pid in running_dockerd():
            os.kill(pid, signal.SIGHUP)


if __name__ == "__main__":
    main()
