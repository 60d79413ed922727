// The runtime's own binary, out of reach of the containers it clones into (CVE-2019-5736).
#pragma once

namespace sv {

// A process the runtime clones into a container runs the runtime's binary until it execs the
// container's program. Without a user namespace, root in the container owns that file on the
// host; with CAP_SYS_PTRACE (which overrides non-dumpable) or an image whose program is
// `#!/proc/self/exe`, it reaches the binary through /proc/<pid>/exe and can open it for writing
// once no process runs it. This re-executes the binary from a view nobody can write: a
// detached read-only bind mount of the file itself (no copy, no mount event: it is never
// attached anywhere), or a sealed memfd copy where the kernel lacks open_tree. Nothing happens
// when the binary already runs from such a view (or lives on a read-only file system).
// Returns only when no view could be made; it then says so on stderr and the caller goes on.
void reexecFromReadOnlyExe(char** argv);

}  // namespace sv
