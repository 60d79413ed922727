// sysvisor-fs: the FUSE daemon that emulates parts of /proc and /sys for every registered
// system container. fsMain() is the role's entry point.
#pragma once

#include <string>

namespace sv::fsd {

struct FsOptions {
  std::string mountpoint = "/var/lib/sysvisorfs";
  std::string socket = "/run/sysvisor/fs.sock";
  std::string runDir = "/run/sysvisor";  // lock, registrations, node log, fd holder
  std::string log = "/var/log/sysvisor-fs.log";
  std::string logLevel = "info";
  unsigned maxThreads = 8;
};

// Runs the daemon until SIGTERM/SIGINT; returns the exit code.
int runDaemon(const FsOptions& o);
int printStatus(const std::string& socket, bool json);
int fsMain(int argc, char** argv);

}  // namespace sv::fsd
