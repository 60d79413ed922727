// Small file helpers used by every role.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sv {

// Reads a whole file; throws SysError.
std::string readFile(const std::string& path);
std::string readFileAt(int dirfd, const std::string& path);
// Same, but a missing file yields nullopt.
std::optional<std::string> readFileIfExists(const std::string& path);
// A symlink's target (a /proc/self/fd/N magic link: the file's path), "" when it cannot be read.
std::string readLinkOrEmpty(const char* path);
// Writes all of data to fd, retrying short writes and EINTR; throws SysError.
void writeAll(int fd, std::string_view data, const std::string& what);
// Writes a file next to its final name and renames it into place, so readers never see a
// partial file. The file is created with the given mode. durable: fsync the file and the
// directory, so the new content survives a crash of the machine too.
void writeFileAtomic(int dirfd, const std::string& name, std::string_view data, unsigned mode,
                     bool durable = false);
// openat2(2) with O_CLOEXEC added, retried on EINTR: the fd, or -1 with errno set.
// resolve: RESOLVE_* flags (RESOLVE_BENEATH, RESOLVE_IN_ROOT, ...).
int openat2(int dirfd, const char* path, int flags, uint64_t resolve);
// Writes data to an existing file (sysfs/procfs knobs); throws SysError.
void writeFileAt(int dirfd, const std::string& path, std::string_view data);

}  // namespace sv
