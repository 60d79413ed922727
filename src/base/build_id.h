// The running executable's identity, for caches of what its code produced (compiled seccomp
// programs): the linker's GNU build id (a hash of the binary: the same for the same code, so
// builds stay reproducible, unlike __DATE__), or, without one, the size and mtime of
// /proc/self/exe.
#pragma once

#include <string>

namespace sv {

// Hex, computed once per process; never empty.
const std::string& buildId();

}  // namespace sv
