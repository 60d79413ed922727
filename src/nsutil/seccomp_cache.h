// Compiled seccomp programs kept in a directory, so that a profile seen before (Docker's
// default, on every container) is read back (~0.2 ms) instead of rebuilt by libseccomp
// (~4.5 ms). Internal to seccomp.cc.
//
// An entry is found by a hash of its identity (the profile parts the program depends on and
// everything else it depends on: libseccomp, the architecture, this code) but only used when
// the identity stored in it is byte for byte the same, so a hash collision can never hand a
// container another profile's filter. Best effort: any failure is a miss, and a failed store
// leaves nothing behind. The directory must be writable by the runtime only.
#pragma once

#include <linux/filter.h>

#include <optional>
#include <string_view>
#include <vector>

namespace sv::ns::seccomp::cache {

std::optional<std::vector<sock_filter>> find(int dirfd, std::string_view identity);
void store(int dirfd, std::string_view identity, const std::vector<sock_filter>& filter) noexcept;

// Entries kept at most; a store beyond it first empties the directory.
constexpr size_t kMaxEntries = 32;

}  // namespace sv::ns::seccomp::cache
