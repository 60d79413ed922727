// What every sysvisor daemon (mgr, fs) does the same way: its directories, the single-instance
// lock, systemd's readiness notification, and the checks on what clients send.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/log.h"
#include "base/unique_fd.h"

namespace sv::daemon {

// mkdir -p for a daemon's directories: an existing one is fine, missing parents are made
// (0755), the directory itself gets mode. Throws SysError otherwise.
void makeDir(const std::string& path, mode_t mode);

// Takes the lock file at path for the life of the process (a killed daemon never blocks its
// successor) and writes our pid into it; UserError naming the running one if it is taken.
UniqueFd lockSingleInstance(const std::string& path, std::string_view daemonName);

// systemd Type=notify: tells the service manager the daemon is ready (no-op without systemd).
void notifyReady();

// Whether id could be a container id the runtime accepted (daemons refuse anything else, so
// a confused client cannot fill their tables with junk or paths).
bool plausibleContainerId(std::string_view id);

// --log-level's value; UserError for an unknown one.
log::Level logLevelFrom(const std::string& name);

}  // namespace sv::daemon
