// The new mount API's configuration step, shared by every filesystem the runtime builds with
// fsopen (the idmapped overlay, the engine's id view).
#pragma once

#include <string>

namespace sv::ns {

// fsconfig(2) on a filesystem context, retried on EINTR. Throws SysError naming `what` and
// the messages the kernel queued on the context ("e overlayfs: ..."), which say why where
// errno alone (EINVAL) does not; busyHint stands in for them when an EBUSY came without any.
void fsconfig(int fs, unsigned cmd, const char* key, const char* value, const std::string& what,
              const char* busyHint = nullptr);

}  // namespace sv::ns
