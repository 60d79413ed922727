// The runtime's side of a container process's stdio: the --console-socket handoff of a pty
// master, and the foreground loop of `run`/`exec` (asio): terminal relay, window size,
// signal forwarding, waiting for the process.
#pragma once

#include <signal.h>

#include <string>

#include "base/process.h"
#include "base/unique_fd.h"

namespace sv::runc {

// Checks runc's rules for process.terminal, --console-socket and detaching; throws UserError.
void checkTerminalOptions(bool terminal, bool detached, const std::string& consoleSocket);

// Connects to the --console-socket listener (before the container exists, so a wrong path
// fails early and leaves nothing behind).
UniqueFd connectConsoleSocket(const std::string& path);
// Sends the pty master over the console socket (SCM_RIGHTS), as runc does.
void sendPtyMaster(int socket, int master);

// The size of the terminal on our stdio, if any: {rows, cols}, or {0, 0}.
struct WinSize {
  unsigned short rows = 0, cols = 0;
};
WinSize callerWindowSize();

// Every signal but the synchronous faults: blocked before the child exists (so none is lost;
// the child resets its mask) and then forwarded.
sigset_t forwardableSignals();

// Foreground `run`/`exec`: forwards the (blocked) signals in `forwarded` to the process,
// relays a pty master (if >= 0) to and from our stdio (stdin in raw mode when it is a
// terminal, window size changes followed), and returns the exit code (128+n for a signal)
// once the process has exited and its output is drained.
int waitForeground(ChildGuard& child, const sigset_t& forwarded, UniqueFd ptyMaster);

}  // namespace sv::runc
