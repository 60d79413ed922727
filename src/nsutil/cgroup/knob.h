// Reading and writing cgroup knobs relative to a cgroup directory fd, with errors that name
// them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sv::cg {

// Writes value to dirfd/name; a missing file is an error saying the controller or knob is
// not available on this host (asked for by `what`). Other failures are SysError.
void writeKnob(int dirfd, const char* name, std::string_view value, std::string_view what);
bool hasKnob(int dirfd, const char* name);
// The text of dirfd/name, nullopt when the file does not exist.
std::optional<std::string> readKnob(int dirfd, const char* name);
// A knob holding one number; "max" reads as UINT64_MAX. nullopt when missing or not a number.
std::optional<uint64_t> readKnobNumber(int dirfd, const char* name);
// "max" -> UINT64_MAX, else the decimal number at the start of text (nullopt if none).
std::optional<uint64_t> parseKnobNumber(std::string_view text);

}  // namespace sv::cg
