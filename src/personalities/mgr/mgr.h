// sysvisor-mgr: the manager daemon (exclusive id ranges per container, their persistence, and
// the status command). mgrMain() is the role's entry point.
#pragma once

#include <cstdint>
#include <string>

#include "personalities/mgr/id_alloc.h"

namespace sv::mgr {

inline constexpr uint64_t kPoolSize = 268435456;  // 4096 blocks of 65536 ids

struct MgrOptions {
  std::string socket = "/run/sysvisor/mgr.sock";
  std::string runDir = "/run/sysvisor";     // the pid lock lives here
  std::string dataRoot = "/var/lib/sysvisor";
  std::string log = "/var/log/sysvisor-mgr.log";
  std::string logLevel = "info";
  SubidPolicy policy = SubidPolicy::kReuse;
  uint64_t poolSize = kPoolSize;
  // The system's files; tests point these elsewhere.
  std::string subuid = "/etc/subuid", subgid = "/etc/subgid", loginDefs = "/etc/login.defs";
};

// Runs the daemon until SIGTERM/SIGINT; returns the exit code.
int runDaemon(const MgrOptions& o);
// `sysvisor mgr status [--json]`: prints the table the daemon keeps.
// `status`: daemon health (mgr, and sysvisor-fs at fsSocket: running or not, version, pid,
// uptime), then the pool and the table; JSON with `json`.
int printStatus(const std::string& socket, const std::string& fsSocket, bool json);

int mgrMain(int argc, char** argv);

}  // namespace sv::mgr
