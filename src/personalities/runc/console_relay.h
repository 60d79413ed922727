// /dev/console of a container without a terminal (a systemd init; see plan.consolePty).
// systemd as PID 1 writes its boot and shutdown messages only to /dev/console and must find a
// tty there, or `docker logs` of a detached system container stays empty. The init binds a pty
// slave of its own devpts on /dev/console; this relay, a small process forked by the runtime
// (as conmon is for Podman), copies the master to the init's stdout (the pipe Docker's shim
// reads) until the init is gone. Line ends come out as "\n" (systemd writes "\r\n" to a tty,
// and the tty's output processing adds another '\r').
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "base/unique_fd.h"

namespace sv::runc {

struct ConsoleRelay {
  pid_t pid = 0;
  uint64_t startTime = 0;  // /proc/<pid>/stat field 22, to tell it from a recycled pid
};

// Forks the relay: it copies master to out (the caller's fd, e.g. 1) until the process behind
// initPidfd has exited and the console has been drained. The relay holds no other fd of the
// caller (its stdin and stderr are /dev/null), so a caller reading the runtime's stderr to its
// end never waits for it. Throws SysError.
ConsoleRelay startConsoleRelay(int master, int out, int initPidfd);

// Kills the relay if it is still the process that was started (delete of a container whose
// init was killed while the relay stalled). Never throws.
void stopConsoleRelay(const ConsoleRelay& relay) noexcept;

// The relay's output filter, exposed for tests: every '\r' right before a '\n' goes; pendingCr
// counts the '\r's that ended the previous chunk (up to 16; a longer run is kept).
std::string stripCrBeforeLf(std::string_view data, unsigned& pendingCr);

}  // namespace sv::runc
