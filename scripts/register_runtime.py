#!/usr/bin/env python3
"""Registers sysvisor-runc with Docker: adds (or updates) one entry under "runtimes" in a
daemon.json, keeping every other key and runtime as it was.

  python3 scripts/register_runtime.py [--config /etc/docker/daemon.json] [--name sysvisor-runc]
                                      [--path /usr/local/bin/sysvisor-runc | --remove] [--reload]

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


def load_config(config_path):
    """(text, config object) of daemon.json; a missing or empty file is an empty object."""
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
    runtimes = config.get("runtimes", {})
    if not isinstance(runtimes, dict):
        raise ConfigError(f'"runtimes" in {config_path} is not an object; fix it, then rerun')
    return text, config


def register_docker(config_path, name, runtime_path):
    """Returns True when the file changed."""
    text, config = load_config(config_path)
    runtimes = config.setdefault("runtimes", {})
    entry = runtimes.get(name)
    wanted = dict(entry) if isinstance(entry, dict) else {}
    wanted["path"] = runtime_path
    if entry == wanted:
        return False
    runtimes[name] = wanted
    write_config(config_path, text, config)
    return True


def unregister_docker(config_path, name):
    """Removes the entry `name` (and "runtimes" once empty); returns True when the file
    changed. A missing file is left missing."""
    if not os.path.exists(config_path):
        return False
    text, config = load_config(config_path)
    runtimes = config.get("runtimes", {})
    if name not in runtimes:
        return False
    del runtimes[name]
    if not runtimes:
        del config["runtimes"]
    write_config(config_path, text, config)
    return True


def write_config(config_path, text, config):
    """Replaces the file atomically with config (same mode), keeping a .sysvisor.bak copy."""
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
    ap.add_argument("--remove", action="store_true",
                    help="remove the entry instead (every other key and runtime is kept)")
    ap.add_argument("--reload", action="store_true",
                    help="SIGHUP running dockerd processes so they pick it up")
    args = ap.parse_args()
    try:
        if args.remove:
            changed = unregister_docker(args.config, args.name)
        else:
            changed = register_docker(args.config, args.name, args.path)
    except (ConfigError, OSError) as e:
        sys.exit(f"register_runtime: {e}")
    if args.remove:
        print(f"register_runtime: {args.name} {'removed from' if changed else 'not in'} "
              f"{args.config}")
    else:
        print(f"register_runtime: {args.name} -> {args.path} "
              f"{'added to' if changed else 'already in'} {args.config}")
    if changed and args.reload:
        # What `systemctl reload docker` does: dockerd re-reads "runtimes", containers stay.
        for pid in running_dockerd():
            os.kill(pid, signal.SIGHUP)
            print(f"register_runtime: reloaded dockerd (pid {pid})")


if __name__ == "__main__":
    main()
