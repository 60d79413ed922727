// Mount option words ("ro", "nosuid", "rshared", ...) to MS_* flags: one table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sv::ns {

struct ParsedMountOptions {
  unsigned long flags = 0;       // flags to set
  unsigned long clearFlags = 0;  // flags explicitly cleared ("rw", "suid", ...)
  std::vector<unsigned long> propagation;
  std::string data;  // the rest, comma-joined, for the filesystem
  // Recursive attributes ("rro", "rnosuid", ...) applied with mount_setattr(AT_RECURSIVE).
  uint64_t recAttrSet = 0, recAttrClr = 0;
  bool bind = false, recursive = false;
};

ParsedMountOptions parseMountOptions(const std::vector<std::string>& options);

// Every option word parseMountOptions() knows (beyond filesystem data), sorted.
std::vector<std::string_view> knownMountOptions();

// Parses a propagation word ("rslave") into MS_* flags; 0 if it is not one.
unsigned long propagationFlags(const std::string& word);

}  // namespace sv::ns
